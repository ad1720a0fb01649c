"""The single env passes gymnasium's and SB3's env checkers and is registered; the same on the embedded
backend when it is importable."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs.config import EnvConfig
from envs.gym_env import PointNavEnv
from envs.task import PointNavTask
from envs.testing import FakeBackend, make_fake_episodes


def fake_env(**overrides) -> PointNavEnv:
    config = EnvConfig.from_dict({"resolution": 64, **overrides})
    task = PointNavTask(config, FakeBackend(config, 1), make_fake_episodes(20), seed=0)
    return PointNavEnv(task=task, render_mode="rgb_array")


def embedded_env() -> PointNavEnv:
    config = EnvConfig(resolution=64, num_train_buildings=2, num_heldout_buildings=1)
    return PointNavEnv(config, split="train", seed=0, render_mode="rgb_array")


@pytest.mark.parametrize("overrides", [{}, {"auto_stop": True}, {"sensors": ["rgb", "depth", "normals"]}])
def test_fake_env_passes_both_checkers(overrides):
    env = fake_env(**overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # float depth/normals images warn in SB3's checker by design
        gym_check_env(env, skip_render_check=False)
        sb3_check_env(env, warn=True)


def test_embedded_env_passes_both_checkers(monkeypatch, tmp_path):
    monkeypatch.setenv("SIDETUNE_NAV_CACHE", str(tmp_path))  # fresh episode cache for this config
    env = embedded_env()
    gym_check_env(env, skip_render_check=False)
    sb3_check_env(env, warn=True)
    env.close()


def test_registered_id_makes_the_env():
    assert envs.ENV_ID in gym.registry
    config = EnvConfig(resolution=64)
    task = PointNavTask(config, FakeBackend(config, 1), make_fake_episodes(5), seed=0)
    env = gym.make(envs.ENV_ID, task=task, render_mode="rgb_array")
    obs, info = env.reset(seed=3)
    assert set(obs) == {"rgb", "map", "target"} and info["building"].startswith("fake_room")
    obs, reward, terminated, truncated, info = env.step(1)
    assert isinstance(reward, float) and "distance_to_goal" in info
    frame = env.render()
    assert frame.shape == (64, 128, 3) and frame.dtype == np.uint8
    env.close()


def test_single_env_rejects_batched_task():
    config = EnvConfig(resolution=32)
    task = PointNavTask(config, FakeBackend(config, 2), make_fake_episodes(5), seed=0)
    with pytest.raises(ValueError, match="one env"):
        PointNavEnv(task=task)


def test_factory_rejects_unknown_split():
    from common.config import ConfigError
    from envs.factory import load_episodes_for

    with pytest.raises(ConfigError, match="split: 'validation' is unknown"):
        load_episodes_for(EnvConfig(), "validation")


def test_factory_builds_a_heldout_task_on_the_embedded_backend(monkeypatch, tmp_path):
    monkeypatch.setenv("SIDETUNE_NAV_CACHE", str(tmp_path))
    from envs.embedded.catalogue import building_names
    from envs.factory import make_task

    config = EnvConfig(resolution=64, num_train_buildings=2, num_heldout_buildings=1)
    task = make_task(config, num_envs=2, split="heldout", seed=0, sampling="sequential")
    assert task.config.split == "heldout" and config.split == "train"  # the caller's config is untouched
    heldout = {f"embedded/{name}" for name in building_names("heldout", config)}
    assert {ep.scene_id for ep in task.episodes} <= heldout
    task.close()


def test_factory_rejects_unknown_backend_name():
    from common.config import ConfigError
    from envs.factory import make_backend

    config = EnvConfig()
    config.backend = "mujoco"  # bypasses __post_init__, as a mutated config would
    with pytest.raises(ConfigError, match="mujoco"):
        make_backend(config, 1)
