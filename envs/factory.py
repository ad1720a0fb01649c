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


def check_split(config: EnvConfig, split: str, where: str = "split") -> None:
    """A ConfigError naming ``where`` unless ``split`` exists (embedded: train | heldout; Habitat splits are
    dataset folders, checked when their episodes load)."""
    if config.backend == "embedded":
        check_choice(split, EMBEDDED_SPLITS, where)


def building_names(config: EnvConfig, split: str) -> list[str] | None:
    """Names of the buildings of ``split``, or None when the backend knows them only from its episode files."""
    check_split(config, split)
    if config.backend == "embedded":
        from envs.embedded.catalogue import building_names as catalogue_names

        return catalogue_names(split, config)
    return None


def renders_offline(config: EnvConfig) -> bool:
    """Whether the backend can render, list and generate in any building without a live simulator (embedded)."""
    return config.backend == "embedded"


def _embedded_only(config: EnvConfig, what: str, fix: str) -> None:
    """Raise a ConfigError unless the backend can do ``what`` offline (see ``renders_offline``)."""
    if not renders_offline(config):
        raise ConfigError("env.backend", f"the {config.backend} backend cannot {what}", fix)


def generate_episodes(config: EnvConfig, names: list[str], per_building: int, seed: int) -> list[Episode]:
    """New episodes in the named buildings, ``per_building`` each, deterministic from ``seed``."""
    _embedded_only(config, "generate new episodes", "use the episodes of its dataset")
    from envs.embedded.episode_gen import generate_episodes as generate

    return generate(names, per_building, seed, config)


def building_of(config: EnvConfig, episode: Episode) -> str:
    """The building an episode is in, as the backend names it (embedded: the catalogue name; else the scene id)."""
    if config.backend == "embedded":
        from envs.embedded.episode_gen import building_of as embedded_building

        return embedded_building(episode)
    return episode.scene_id


def navigable_cells(config: EnvConfig, name: str) -> tuple[Any, float]:
    """``(navigable bool[H, W], cell size in metres)`` of building ``name`` for the configured agent radius."""
    _embedded_only(config, "list navigable cells offline", "use env.backend=embedded")
    from envs.embedded.catalogue import get_nav_grid

    grid = get_nav_grid(name, config)
    return grid.navigable, float(grid.cell_size)


def make_pose_renderer(config: EnvConfig, names: list[str], resolution: int | None = None) -> Any:
    """A renderer of arbitrary poses in the named buildings (``render(building_idx, positions, headings,
    sensors)``, ``camera.focal``): re-rendering stored trajectories and pretraining images."""
    _embedded_only(config, "re-render stored poses", "store frames instead (bc.storage=frames)")
    from envs.embedded.renderer import make_renderer

    return make_renderer(names, config, resolution)


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
    check_split(config, split)
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
