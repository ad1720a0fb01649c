"""The PointNav task over the fake backend: reward, success, SPL, truncation, auto-stop, map and goal vector."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.backend import Action
from envs.config import EnvConfig
from envs.egocentric import MAP_BACKGROUND, MAP_MARK
from envs.task import PointNavTask
from envs.testing import FakeBackend, fake_episode, make_fake_episodes

F, L, R, S = int(Action.MOVE_FORWARD), int(Action.TURN_LEFT), int(Action.TURN_RIGHT), int(Action.STOP)


def make_task(*episodes, **overrides) -> PointNavTask:
    """One-env task in 'sequential' mode over the given episodes (90-degree turns, 0.25 m map cells)."""
    values = {"resolution": 32, "turn_angle_deg": 90.0, "map_cell": 0.25, **overrides}
    config = EnvConfig.from_dict(values)
    return PointNavTask(config, FakeBackend(config, 1), list(episodes), seed=0, sampling="sequential")


def run(task: PointNavTask, actions: list[int]):
    results = [task.step(np.array([a]), autoreset=False) for a in actions]
    return results[-1], results


def test_reward_is_progress_plus_slack():
    task = make_task(fake_episode("e", (1.0, 1.0), (3.0, 1.0)))
    task.reset()
    forward = task.step(np.array([F]), autoreset=False)
    assert forward.rewards[0] == pytest.approx(0.25 - 0.01, abs=1e-6)
    turn = task.step(np.array([L]), autoreset=False)
    assert turn.rewards[0] == pytest.approx(-0.01, abs=1e-6)
    assert not forward.terminated[0] and not forward.truncated[0]
    assert turn.infos[0]["distance_to_goal"] == pytest.approx(1.75)


def test_stop_within_radius_succeeds_with_bonus():
    task = make_task(fake_episode("e", (1.0, 1.0), (1.1, 1.0)))
    task.reset()
    result = task.step(np.array([S]), autoreset=False)
    info = result.infos[0]
    assert result.terminated[0] and not result.truncated[0]
    assert info["success"] == 1.0 and info["spl"] == pytest.approx(1.0)
    assert result.rewards[0] == pytest.approx(10.0 - 0.01, abs=1e-6)
    assert info["steps"] == 1 and info["episode_reward"] == pytest.approx(9.99, abs=1e-6)


def test_stop_outside_radius_fails():
    task = make_task(fake_episode("e", (1.0, 1.0), (2.0, 1.0)))
    task.reset()
    result, _ = run(task, [F, S])
    info = result.infos[0]
    assert result.terminated[0]
    assert info["success"] == 0.0 and info["spl"] == 0.0
    assert info["distance_to_goal"] == pytest.approx(0.75)
    assert info["path_length"] == pytest.approx(0.25)


def test_spl_is_shortest_over_path_length():
    task = make_task(fake_episode("e", (1.0, 1.0), (2.1, 1.0)))
    task.reset()
    # detour: left, up 0.25, right, 1 m along x, right, down 0.25 -> 0.1 m from the goal after 1.5 m
    result, _ = run(task, [L, F, R, F, F, F, F, R, F, S])
    info = result.infos[0]
    assert info["success"] == 1.0
    assert info["path_length"] == pytest.approx(1.5)
    assert info["spl"] == pytest.approx(1.1 / 1.5)


def test_truncation_at_max_steps_and_reset_required():
    task = make_task(fake_episode("e", (1.0, 1.0), (3.0, 1.0)), max_steps=5)
    task.reset()
    result, results = run(task, [L] * 5)
    assert not any(r.truncated[0] for r in results[:-1])
    assert result.truncated[0] and not result.terminated[0]
    assert result.infos[0]["steps"] == 5 and result.infos[0]["success"] == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        task.step(np.array([L]), autoreset=False)


def test_auto_stop_three_actions():
    task = make_task(fake_episode("e", (1.0, 1.0), (1.5, 1.0)), auto_stop=True)
    assert task.action_space.n == 3
    task.reset()
    first = task.step(np.array([0]), autoreset=False)  # 0 = forward
    assert not first.terminated[0]
    second = task.step(np.array([0]), autoreset=False)
    assert second.terminated[0] and second.infos[0]["success"] == 1.0
    assert second.rewards[0] == pytest.approx(0.25 - 0.01 + 10.0, abs=1e-6)


@pytest.mark.parametrize("auto_stop, bad", [(False, 4), (False, -1), (True, 3), (False, 1.5)])
def test_out_of_range_actions_name_the_valid_range(auto_stop, bad):
    task = make_task(fake_episode("e", (1.0, 1.0), (3.0, 1.0)), auto_stop=auto_stop)
    task.reset()
    with pytest.raises(ValueError, match=f"0..{2 if auto_stop else 3}"):
        task.step(np.array([bad]))


@pytest.mark.parametrize(
    "bad, says",
    [
        (None, "None is not an integer action"),
        (3.0, "3.0 is not an integer action"),
        (True, "True is not an integer action"),
        ([[1, 2]], r"\[\[1, 2\]\] has shape \(1, 2\)"),
        ("1", "'1' is not an integer action"),
    ],
)
def test_malformed_actions_are_named(bad, says):
    task = make_task(fake_episode("e", (1.0, 1.0), (3.0, 1.0)))
    task.reset()
    with pytest.raises(ValueError, match=f"^action: {says}"):
        task.step(bad)
    assert task.step(np.int64(1)).rewards.shape == (1,) and task.step(np.array([[2]])).rewards.shape == (1,)


def test_non_finite_observation_names_its_key():
    task = make_task(fake_episode("e", (1.0, 1.0), (3.0, 1.0)))
    task.reset()
    task._goals[0] = np.nan  # what a backend or an episode file with a broken goal would give
    with pytest.raises(ValueError, match=r"^observation 'target': non-finite values \(NaN or inf\) in envs \[0\]"):
        task.step(np.array([F]))


def test_collisions_counted_at_walls():
    task = make_task(fake_episode("e", (0.3, 1.0), (3.0, 1.0), heading=math.pi))
    task.reset()
    result = task.step(np.array([F]), autoreset=False)
    assert result.infos[0]["collisions"] == 1


def test_every_step_info_names_building_and_episode():
    task = make_task(fake_episode("ep7", (1.0, 1.0), (3.0, 1.0), scene_id="room_a"))
    task.reset()
    info = task.step(np.array([F]), autoreset=False).infos[0]
    assert info["building"] == "room_a" and info["episode_id"] == "ep7"
    assert set(info) >= {"building", "episode_id", "distance_to_goal", "collisions"}


def test_map_is_egocentric_and_heading_up():
    task = make_task(fake_episode("e", (1.0, 1.0), (7.0, 7.0)))
    centre = task.config.map_size // 2
    task.reset()
    result, _ = run(task, [F, F, F, F, L, L])  # 1 m along +x, then turn around: the start is 1 m ahead
    visited = result.observations["map"][0, 0]
    assert visited[centre, centre] == MAP_MARK  # the agent's own cell
    assert visited[centre - 4, centre] == MAP_MARK  # start: 4 cells straight above the centre
    assert visited[centre + 1 :, :].max() == MAP_BACKGROUND  # nothing behind the agent
    after_left = task.step(np.array([L]), autoreset=False).observations["map"][0, 0]
    assert after_left[centre, centre + 4] == MAP_MARK  # a left turn moves the start to the right
    assert after_left[centre - 4, centre] == MAP_BACKGROUND


def test_map_goal_channel_and_background():
    task = make_task(fake_episode("e", (1.0, 1.0), (2.0, 1.0)))
    centre = task.config.map_size // 2
    obs = task.reset()["map"][0]
    assert obs.shape == (3, 84, 84) and obs.dtype == np.uint8
    goal = obs[1]
    assert goal[centre - 4, centre] == MAP_MARK and (goal == MAP_MARK).sum() == 1
    assert np.all(obs[2] == MAP_BACKGROUND)
    far = make_task(fake_episode("e", (0.5, 0.5), (7.5, 7.5)), map_size=16)
    assert far.reset()["map"][0, 1].max() == MAP_BACKGROUND  # goal outside the map: not drawn


def test_target_is_polar_goal_in_agent_frame():
    task = make_task(fake_episode("e", (1.0, 1.0), (1.0, 3.0)))  # goal 2 m to the left of a +x heading
    target = task.reset()["target"][0]
    np.testing.assert_allclose(target, [0.0, 1.0, 2.0], atol=1e-6)
    target = task.step(np.array([L]), autoreset=False).observations["target"][0]
    np.testing.assert_allclose(target, [1.0, 0.0, 2.0], atol=1e-6)  # now straight ahead


def test_observations_match_space_with_extra_sensors():
    config = EnvConfig(resolution=32, sensors=["rgb", "depth", "normals"])
    task = PointNavTask(config, FakeBackend(config, 4), make_fake_episodes(8), seed=1)
    obs = task.reset()
    for _ in range(3):
        obs = task.step(np.random.default_rng(0).integers(0, 4, 4)).observations
    for i in range(4):
        assert task.observation_space.contains({k: v[i] for k, v in obs.items()})


def test_sequential_sampling_counts_finished_episodes():
    episodes = make_fake_episodes(5, seed=3)
    config = EnvConfig(resolution=32)
    task = PointNavTask(config, FakeBackend(config, 2), episodes, seed=0, sampling="sequential")
    task.reset()
    assert [e.episode_id for e in task.current_episodes()] == ["0", "1"]
    result = task.step(np.array([S, F]))  # env 0 stops: it gets episode "2"
    assert task.num_finished == 1 and task.num_started == 3
    assert result.infos[0]["episode_index"] == 0
    assert task.current_episodes()[0].episode_id == "2"
    task.reset()  # unseeded: the sequence goes on
    assert [e.episode_id for e in task.current_episodes()] == ["3", "4"]
    task.reset(seed=0)  # seeded: a new pass
    assert task.num_finished == 0 and [e.episode_id for e in task.current_episodes()] == ["0", "1"]


def test_random_sampling_is_seeded():
    episodes = make_fake_episodes(50)
    config = EnvConfig(resolution=32)

    def drawn(seed):
        task = PointNavTask(config, FakeBackend(config, 8), episodes, seed=seed)
        task.reset()
        return [e.episode_id for e in task.current_episodes()]

    assert drawn(4) == drawn(4)
    assert drawn(4) != drawn(5)


def test_expert_reaches_goal():
    task = make_task(fake_episode("e", (1.0, 1.0), (3.0, 2.0)), turn_angle_deg=10.0)
    task.reset()
    for _ in range(100):
        result = task.step(task.expert_actions(), autoreset=False)
        if result.terminated[0]:
            break
    assert result.infos[0]["success"] == 1.0 and result.infos[0]["spl"] > 0.9
