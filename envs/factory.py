"""Build backends, episode sets, tasks and envs from an ``EnvConfig`` (backends are imported lazily).

The Habitat backend needs habitat-sim; importing it only when ``env.backend: habitat`` keeps the embedded
path free of that dependency.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from envs.backend import Backend
from envs.config import BACKENDS, EMBEDDED_SPLITS, ConfigError, EnvConfig, check_choice
from envs.episodes import Episode, scene_name, select_episodes
from envs.task import SAMPLING_MODES, PointNavTask


def _check_split(config: EnvConfig, split: str) -> None:
    check_choice(config.backend, BACKENDS, "env.backend")
    if config.backend == "embedded":
        check_choice(split, EMBEDDED_SPLITS, "split")


def building_names(config: EnvConfig, split: str) -> list[str] | None:
    """Names of the buildings of ``split``, or None when the backend knows them only from its episode files."""
    _check_split(config, split)
    if config.backend == "embedded":
        from envs.embedded.catalogue import building_names as catalogue_names

        return catalogue_names(split, config)
    return None


def make_backend(config: EnvConfig, num_envs: int) -> Backend:
    """The simulator backend named by ``config.backend`` with ``num_envs`` agents."""
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1")
    if config.backend == "embedded":
        from envs.embedded.backend import EmbeddedBackend

        return EmbeddedBackend(config, num_envs)
    if config.backend == "habitat":
        from envs.habitat.backend import HabitatBackend

        return HabitatBackend(config, num_envs)
    check_choice(config.backend, BACKENDS, "env.backend")
    raise AssertionError("unreachable")


def load_episodes_for(config: EnvConfig, split: str | None = None, per_building: int | None = None) -> list[Episode]:
    """The fixed episode set of ``split`` (default ``config.split``), restricted to ``config.buildings``
    and, with ``per_building``, to the first K episodes of each building (evaluation)."""
    split = split or config.split
    _check_split(config, split)
    if config.backend == "embedded":
        from envs.embedded.episode_gen import load_or_generate_episodes

        episodes = load_or_generate_episodes(config, split)
    else:
        from envs.habitat.episodes import load_habitat_episodes

        episodes = load_habitat_episodes(config, split)
    if config.buildings:
        wanted = set(config.buildings)
        episodes = [ep for ep in episodes if ep.scene_id in wanted or scene_name(ep.scene_id) in wanted]
        if not episodes:
            raise ConfigError("env.buildings", f"no {split} episodes in {sorted(wanted)}",
                              f"list buildings of the {split} split or set env.buildings=null")  # fmt: skip
    if not episodes:
        raise ConfigError("env.split", f"the {config.backend} backend has no episodes for split {split!r}", "check the split and the episode files")
    return select_episodes(episodes, per_building)


def make_task(
    config: EnvConfig,
    num_envs: int,
    split: str | None = None,
    seed: int | None = 0,
    sampling: str = "random",
    per_building: int | None = None,
) -> PointNavTask:
    """A batched task of ``num_envs`` agents over ``split``'s episodes ('random' training draws or
    'sequential' evaluation order; ``per_building``: the first K episodes of each building)."""
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"sampling={sampling!r} is unknown; use one of {SAMPLING_MODES}")
    split = split or config.split
    if split != config.split:  # the backend serves the buildings of config.split
        config = dataclasses.replace(config, split=split)
    episodes = load_episodes_for(config, split, per_building)
    return PointNavTask(config, make_backend(config, num_envs), episodes, seed=seed, sampling=sampling)


def make_vector_env(
    config: EnvConfig,
    num_envs: int,
    split: str | None = None,
    seed: int | None = 0,
    sampling: str = "random",
    render_mode: str | None = None,
) -> Any:
    """A gymnasium ``PointNavVectorEnv`` (same-step autoreset)."""
    from envs.vector_env import PointNavVectorEnv

    return PointNavVectorEnv(make_task(config, num_envs, split, seed, sampling), render_mode=render_mode)


def make_sb3_vec_env(
    config: EnvConfig,
    num_envs: int,
    split: str | None = None,
    seed: int | None = 0,
    sampling: str = "random",
    render_mode: str | None = None,
    per_building: int | None = None,
) -> Any:
    """An SB3 ``SB3VecEnv`` (wrap it in VecMonitor / VecFrameStack in the trainer)."""
    from envs.sb3_vec_env import SB3VecEnv

    return SB3VecEnv(make_task(config, num_envs, split, seed, sampling, per_building), render_mode=render_mode)


def make_env(
    config: EnvConfig,
    split: str | None = None,
    seed: int | None = 0,
    sampling: str = "random",
    render_mode: str | None = None,
) -> Any:
    """A single ``PointNavEnv`` (the task with N=1)."""
    from envs.gym_env import PointNavEnv

    return PointNavEnv(task=make_task(config, 1, split, seed, sampling), render_mode=render_mode)
