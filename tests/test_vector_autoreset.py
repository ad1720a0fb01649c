"""Same-step autoreset of the gymnasium VectorEnv and the SB3 VecEnv adapter over the batched task."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from envs.backend import Action
from envs.config import EnvConfig
from envs.sb3_vec_env import SB3VecEnv
from envs.task import PointNavTask
from envs.testing import FakeBackend, fake_episode, make_fake_episodes
from envs.vector_env import PointNavVectorEnv

S, L = int(Action.STOP), int(Action.TURN_LEFT)
# Handed out in order: env 0 gets a, env 1 gets b, the first env to finish gets c, the next d.
EPISODES = [
    fake_episode("a", (1.0, 1.0), (3.0, 1.0), scene_id="room_a"),  # goal 2 m ahead
    fake_episode("b", (5.0, 5.0), (5.0, 3.0), scene_id="room_b"),  # goal 2 m to the right
    fake_episode("c", (2.0, 2.0), (2.0, 5.0), scene_id="room_c"),  # goal 3 m to the left
    fake_episode("d", (6.0, 6.0), (6.0, 7.0), scene_id="room_d"),  # goal 1 m to the left
]


class FullRenderBackend(FakeBackend):
    """A backend without subset rendering: the task renders all envs and keeps the rows it needs."""

    def render(self, sensors=("rgb",)):
        return super().render(sensors)


def two_env_task(backend_class: type = FakeBackend) -> PointNavTask:
    config = EnvConfig(resolution=32, max_steps=2, turn_angle_deg=90.0)
    return PointNavTask(config, backend_class(config, 2), EPISODES, seed=0, sampling="sequential")


@pytest.mark.parametrize("backend_class", [FakeBackend, FullRenderBackend])
def test_gymnasium_vector_env_same_step_autoreset(backend_class):
    env = PointNavVectorEnv(two_env_task(backend_class))
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, infos = env.reset(seed=0)
    assert list(infos["episode_id"]) == ["a", "b"] and infos["_episode_id"].all()

    obs, rewards, terminated, truncated, infos = env.step(np.array([S, L]))  # env 0 stops (too far: failure)
    assert terminated.tolist() == [True, False] and truncated.tolist() == [False, False]
    assert infos["_final_obs"].tolist() == [True, False] and infos["final_obs"][1] is None
    np.testing.assert_allclose(infos["final_obs"][0]["target"], [1, 0, 2], atol=1e-6)  # episode a's last obs
    np.testing.assert_allclose(obs["target"][0], [0, 1, 3], atol=1e-6)  # episode c's first obs
    np.testing.assert_allclose(obs["target"][1], [-1, 0, 2], atol=1e-6)  # env 1 goes on in b
    final = infos["final_info"]
    assert final["_success"].tolist() == [True, False] and final["success"][0] == 0.0
    assert final["episode_id"][0] == "a" and infos["episode_id"][0] == "c"  # top level: the new episode
    assert env.observation_space.contains(obs)

    obs, rewards, terminated, truncated, infos = env.step(np.array([L, L]))  # env 1 reaches max_steps=2
    assert truncated.tolist() == [False, True] and terminated.tolist() == [False, False]
    np.testing.assert_allclose(infos["final_obs"][1]["target"], [0, 1, 2], atol=1e-6)
    np.testing.assert_allclose(obs["target"][1], [0, 1, 1], atol=1e-6)  # episode d's first obs
    assert infos["final_info"]["steps"][1] == 2 and infos["episode_id"][1] == "d"
    env.close()


def test_gymnasium_vector_env_partial_reset_mask():
    env = PointNavVectorEnv(two_env_task())
    env.reset(seed=0)
    obs, infos = env.reset(options={"reset_mask": np.array([False, True])})
    assert infos["_episode_id"].tolist() == [False, True] and infos["episode_id"][1] == "c"


def test_sb3_vec_env_terminal_observation_and_time_limit():
    env = SB3VecEnv(two_env_task())
    obs = env.reset()
    assert [info["episode_id"] for info in env.reset_infos] == ["a", "b"]

    obs, rewards, dones, infos = env.step(np.array([S, L]))
    assert dones.tolist() == [True, False]
    np.testing.assert_allclose(infos[0]["terminal_observation"]["target"], [1, 0, 2], atol=1e-6)
    np.testing.assert_allclose(obs["target"][0], [0, 1, 3], atol=1e-6)
    assert infos[0]["TimeLimit.truncated"] is False and "terminal_observation" not in infos[1]
    assert infos[0]["episode_id"] == "a" and env.reset_infos[0]["episode_id"] == "c"

    obs, rewards, dones, infos = env.step(np.array([L, L]))
    assert dones.tolist() == [False, True]
    assert infos[1]["TimeLimit.truncated"] is True and infos[0]["TimeLimit.truncated"] is False
    np.testing.assert_allclose(infos[1]["terminal_observation"]["target"], [0, 1, 2], atol=1e-6)
    np.testing.assert_allclose(obs["target"][1], [0, 1, 1], atol=1e-6)
    env.close()


def test_sb3_vec_env_seed_attrs_and_methods():
    config = EnvConfig(resolution=32)

    def first_episodes(seed):
        env = SB3VecEnv(PointNavTask(config, FakeBackend(config, 3), make_fake_episodes(40), seed=None))
        env.seed(seed)
        env.reset()
        return [info["episode_id"] for info in env.reset_infos], env

    ids, env = first_episodes(7)
    assert ids == first_episodes(7)[0]
    assert env.get_attr("num_envs") == [3, 3, 3]
    assert env.get_attr("config", indices=[1])[0] is config
    assert [info["episode_id"] for info in env.env_method("step_info")] == ids
    assert env.env_is_wrapped(object) == [False, False, False]
    with pytest.raises(ValueError, match="indices=None"):
        env.set_attr("sampling", "sequential", indices=[0])


def test_sb3_ppo_runs_on_the_adapter():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor

    config = EnvConfig(resolution=64, max_steps=6)
    task = PointNavTask(config, FakeBackend(config, 2), make_fake_episodes(10), seed=0)
    venv = VecFrameStack(VecMonitor(SB3VecEnv(task)), n_stack=2, channels_order="first")
    model = PPO("MultiInputPolicy", venv, n_steps=8, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=16)
    assert len(model.ep_info_buffer) > 0  # episodes ended (max_steps=6) and were logged


def test_matches_gymnasium_sync_vector_env_same_step():
    """Our batched VectorEnv returns what gymnasium's SyncVectorEnv (SAME_STEP) returns over single envs."""
    from gymnasium.vector import SyncVectorEnv

    from envs.gym_env import PointNavEnv

    config = EnvConfig(resolution=32, max_steps=2, turn_angle_deg=90.0)

    def single(episodes):
        return lambda: PointNavEnv(task=PointNavTask(config, FakeBackend(config, 1), episodes, sampling="sequential"))

    reference = SyncVectorEnv(
        [single([EPISODES[0], EPISODES[2]]), single([EPISODES[1], EPISODES[3]])],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    ours = PointNavVectorEnv(two_env_task())
    for env in (reference, ours):
        env.reset(seed=0)
    for actions in ([S, L], [L, L]):
        expected = reference.step(np.array(actions))
        got = ours.step(np.array(actions))
        for key in ("rgb", "map", "target"):
            np.testing.assert_array_equal(got[0][key], expected[0][key])
        for k in (1, 2, 3):
            np.testing.assert_array_equal(got[k], expected[k])
        exp_info, got_info = expected[4], got[4]
        assert set(got_info) == set(exp_info)
        for key in exp_info:
            if key == "final_obs":
                for e, g in zip(exp_info[key], got_info[key], strict=False):
                    assert (e is None) == (g is None)
                    if e is not None:
                        for obs_key in e:
                            np.testing.assert_array_equal(g[obs_key], e[obs_key])
            elif key == "final_info":
                assert set(got_info[key]) == set(exp_info[key])
                for sub in set(exp_info[key]) - {"episode_index", "_episode_index"}:  # batch-wide hand-out order
                    np.testing.assert_array_equal(got_info[key][sub], exp_info[key][sub])
            else:
                np.testing.assert_array_equal(got_info[key], exp_info[key])
