"""Build backends, episode sets, tasks and envs from an ``EnvConfig``, through the registered backend specs
(envs/backends.py), whose functions are imported when first used (the embedded path never needs habitat-sim).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from common.errors import EnvironmentSetupError
from envs.backend import Backend
from envs.backends import backend_names, backend_spec
from envs.config import ConfigError, EnvConfig, check_choice, check_val_buildings
from envs.episodes import Episode, scene_name, select_episodes
from envs.task import SAMPLING_MODES, PointNavTask


def backend_function(config: EnvConfig, field: str) -> Any:
    """The function the backend's spec names for ``field`` (imported now), or None when the spec has none; a
    ConfigError for a backend that is not registered (a config mutated after its check)."""
    check_choice(config.backend, backend_names(), "env.backend")
    entry = getattr(backend_spec(config.backend), field)
    if entry is None:
        return None
    module, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(module), attribute)


def check_split(config: EnvConfig, split: str, where: str = "split") -> None:
    """A ConfigError naming ``where`` unless ``split`` exists (a backend with fixed splits, e.g. embedded: train |
    heldout | train_fit | train_val; dataset splits are folders, checked when their episodes load)."""
    splits = backend_spec(config.backend).splits
    if splits is not None:
        check_choice(split, splits, where)
        check_val_buildings(config, split, where)


def building_names(config: EnvConfig, split: str) -> list[str] | None:
    """Names of the buildings of ``split``, or None when the backend knows them only from its episode files (an
    embedded train_fit / train_val that env.num_val_buildings leaves unusable is empty; check_split refuses it)."""
    splits = backend_spec(config.backend).splits
    if splits is not None:
        check_choice(split, splits, "split")
    names = backend_function(config, "building_names")
    return names(split, config) if names is not None else None


def check_backend_data(config: EnvConfig) -> None:
    """The backend's check of the user's data (Habitat: absolute paths, every episode file and scene present),
    run when the run config is resolved, before any run folder is made; nothing for a backend without one."""
    check = backend_function(config, "check_data")
    if check is not None:
        check(config)


def check_render_device(config: EnvConfig) -> None:
    """An EnvironmentSetupError naming env.render_device when it asks for CUDA on a machine without it, checked
    when the run config is resolved, before any run folder is made (``--device`` sets run.device only)."""
    if str(config.render_device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise EnvironmentSetupError(
                "env.render_device",
                f"{config.render_device!r} but CUDA is not available on this machine",
                "set env.render_device=cpu or torch-cpu; --device sets run.device only",
            )


def renders_offline(config: EnvConfig) -> bool:
    """Whether the backend can render, list and generate in any building without a live simulator (embedded)."""
    return backend_spec(config.backend).renders_offline


def _offline(config: EnvConfig, field: str, what: str, fix: str) -> Any:
    """The backend's offline function ``field``; a ConfigError when it has none (see ``renders_offline``)."""
    if not renders_offline(config):
        raise ConfigError("env.backend", f"the {config.backend} backend cannot {what}", fix)
    return backend_function(config, field)


def generate_episodes(config: EnvConfig, names: list[str], per_building: int, seed: int) -> list[Episode]:
    """New episodes in the named buildings, ``per_building`` each, deterministic from ``seed``."""
    generate = _offline(config, "generate_episodes", "generate new episodes", "use the episodes of its dataset")
    return generate(names, per_building, seed, config)


def building_of(config: EnvConfig, episode: Episode) -> str:
    """The building an episode is in, as the backend names it (embedded: the catalogue name; else the scene id)."""
    named = backend_function(config, "building_of")
    return named(episode) if named is not None else episode.scene_id


def navigable_cells(config: EnvConfig, name: str) -> tuple[Any, float]:
    """``(navigable bool[H, W], cell size in metres)`` of building ``name`` for the configured agent radius."""
    grid = _offline(config, "nav_grid", "list navigable cells offline", "use env.backend=embedded")(name, config)
    return grid.navigable, float(grid.cell_size)


def make_pose_renderer(config: EnvConfig, names: list[str], resolution: int | None = None) -> Any:
    """A renderer of arbitrary poses in the named buildings (``render(building_idx, positions, headings,
    sensors)``, ``camera.focal``): re-rendering stored trajectories and pretraining images."""
    fix = "store frames instead (bc.storage=frames)"
    return _offline(config, "pose_renderer", "re-render stored poses", fix)(names, config, resolution)


def make_backend(config: EnvConfig, num_envs: int) -> Backend:
    """The simulator backend named by ``config.backend`` with ``num_envs`` agents."""
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1")
    return backend_function(config, "build")(config, num_envs)


def load_episodes_for(config: EnvConfig, split: str | None = None, per_building: int | None = None) -> list[Episode]:
    """The fixed episode set of ``split`` (default ``config.split``), restricted to ``config.buildings``
    and, with ``per_building``, to the first K episodes of each building (evaluation)."""
    split = split or config.split
    check_split(config, split)
    episodes = backend_function(config, "load_episodes")(config, split)
    if config.buildings:
        wanted = set(config.buildings)
        episodes = [ep for ep in episodes if ep.scene_id in wanted or scene_name(ep.scene_id) in wanted]
        if not episodes:
            raise ConfigError(
                "env.buildings",
                f"no {split} episodes in {sorted(wanted)}",
                f"list buildings of the {split} split or set env.buildings=null",
            )
    if not episodes:
        raise ConfigError(
            "env.split",
            f"the {config.backend} backend has no episodes for split {split!r}",
            "check the split and the episode files",
        )
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
