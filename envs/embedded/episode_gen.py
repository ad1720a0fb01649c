"""PointNav episodes for the embedded buildings, sampled like Habitat's PointNav generator, and the fixed sets.

Sampling (per building, from its own seeded stream so buildings do not affect each other): draw a goal in
navigable space, compute its geodesic field, draw starts among cells connected to it with geodesic distance
in ``[min_geodesic, max_geodesic]``; like Habitat, reject a near-straight pair (geodesic / euclidean below
``min_geodesic_euclid_ratio``) with probability ``ratio_filter_prob``. Start heading is uniform.

The fixed train / held-out / train_val sets come from ``config.episodes_dir/{split}/{split}.json.gz`` when set,
else are generated from ``config.episodes.seed`` once and cached in memory and on disk (``$SIDETUNE_NAV_CACHE`` or
``~/.cache/sidetune-nav``), keyed by every setting that changes them. ``train`` has ``per_building_train``
episodes per building; ``heldout`` and ``train_val`` are evaluation sets of ``per_building_heldout`` each (a
train_val building's episodes are thus the first ones of its training episodes: one stream per building).
``train_fit`` is the ``train`` set without the train_val buildings, the same episodes with the same ids.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from envs.backends import EVALUATION_SPLITS, FIT_SPLIT, VAL_SPLIT
from envs.config import ConfigError, EnvConfig, check_val_buildings
from envs.embedded.catalogue import SPLITS, building_names, get_nav_grid, split_of, splits_of
from envs.embedded.navigation import distance_field
from envs.episodes import Episode, EpisodeFileError, heading_to_quaternion, load_episodes, save_episodes, xy_to_habitat

GENERATOR_VERSION = 1  # bump when buildings or sampling change, so on-disk caches are regenerated
SCENE_PREFIX = "embedded/"
_MEMORY: dict[str, list[Episode]] = {}


def scene_id(name: str) -> str:
    """The ``scene_id`` of building ``name`` in episode files."""
    return f"{SCENE_PREFIX}{name}"


def building_of(episode: Episode) -> str:
    """The building name of an embedded episode; EpisodeFileError if it is not an embedded scene."""
    if not episode.scene_id.startswith(SCENE_PREFIX):
        raise EpisodeFileError(
            f"episode {episode.episode_id}: scene_id {episode.scene_id!r} is not an embedded building "
            f"(expected '{SCENE_PREFIX}<name>'); use the habitat backend for Habitat scenes"
        )
    return episode.scene_id[len(SCENE_PREFIX) :]


def generate_episodes(names: list[str], per_building: int, seed: int, config: EnvConfig) -> list[Episode]:
    """Sample ``per_building`` episodes in each named building, deterministically from ``seed``."""
    episodes: list[Episode] = []
    for name in names:
        rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))
        for start, goal, heading, geo in _sample_building(name, per_building, rng, config):
            episodes.append(
                Episode(
                    episode_id=str(len(episodes)),
                    scene_id=scene_id(name),
                    start_position=xy_to_habitat(*start),
                    start_rotation=heading_to_quaternion(heading),
                    goal_position=xy_to_habitat(*goal),
                    geodesic_distance=geo,
                    info={"euclidean_distance": math.dist(start, goal)},
                )
            )
    return episodes


def _sample_building(name: str, count: int, rng: np.random.Generator, config: EnvConfig):
    ep = config.episodes
    nav = get_nav_grid(name, config)
    cells = np.argwhere(nav.navigable)
    cell = nav.cell_size
    found, attempts = 0, 0
    while found < count:
        attempts += 1
        if attempts > 50 * count + 100:
            raise RuntimeError(
                f"building {name}: could not sample {count} episodes with geodesic distance in "
                f"[{ep.min_geodesic}, {ep.max_geodesic}] m; widen env.episodes.min/max_geodesic"
            )
        goal = _point_in(cells[rng.integers(len(cells))], cell, rng)
        field = distance_field(nav, goal)
        ok = (field.distance >= ep.min_geodesic) & (field.distance <= ep.max_geodesic)
        candidates = np.argwhere(ok)
        if len(candidates) == 0:
            continue
        for _ in range(10):  # a few starts per goal before drawing a new goal
            start = _point_in(candidates[rng.integers(len(candidates))], cell, rng)
            geo = field.at(*start)
            euclid = math.dist(start, goal)
            if not ep.min_geodesic <= geo <= ep.max_geodesic:
                continue
            if geo / max(euclid, 1e-6) < ep.min_geodesic_euclid_ratio and rng.random() < ep.ratio_filter_prob:
                continue
            found += 1
            yield start, goal, float(rng.uniform(-math.pi, math.pi)), float(geo)
            break


def _point_in(ij: np.ndarray, cell: float, rng: np.random.Generator) -> tuple[float, float]:
    """A random point well inside grid cell ``(i, j)`` (so it is navigable exactly when the cell is)."""
    ox, oy = rng.uniform(0.2, 0.8, size=2)
    return (round((ij[1] + ox) * cell, 4), round((ij[0] + oy) * cell, 4))


# ------------------------------------------------------------------------------------------- fixed sets


def episode_set_key(config: EnvConfig, split: str) -> str:
    """A digest of every setting that changes the generated set of ``split``."""
    ep = config.episodes
    catalogue = [config.catalogue_seed, config.num_train_buildings, config.num_heldout_buildings]
    if split in (FIT_SPLIT, VAL_SPLIT):
        catalogue.append(config.num_val_buildings)  # train and heldout keys stay what they were
    settings = {
        "version": GENERATOR_VERSION,
        "split": split,
        "catalogue": catalogue,
        "radius": config.agent_radius,
        "episodes": [
            ep.seed,
            ep.per_building_train,
            ep.per_building_heldout,
            ep.min_geodesic,
            ep.max_geodesic,
            ep.min_geodesic_euclid_ratio,
            ep.ratio_filter_prob,
        ],
    }
    return hashlib.sha1(json.dumps(settings).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """Folder of on-disk episode caches."""
    return Path(os.environ.get("SIDETUNE_NAV_CACHE", Path.home() / ".cache" / "sidetune-nav")) / "episodes"


def load_or_generate_episodes(config: EnvConfig, split: str) -> list[Episode]:
    """The fixed episode set of ``split`` (restricted to ``config.buildings`` if set), validated."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; the embedded backend has splits {SPLITS}")
    check_val_buildings(config, split, "split")
    if split == FIT_SPLIT:
        fit = {scene_id(name) for name in building_names(FIT_SPLIT, config)}
        episodes = [e for e in load_or_generate_episodes(replace(config, buildings=None), "train") if e.scene_id in fit]
    else:
        episodes = _fixed_set(config, split)
    if config.buildings:
        wanted = {scene_id(n) for n in buildings_in_split(config, split)}
        episodes = [e for e in episodes if e.scene_id in wanted]
    return list(episodes)


def buildings_in_split(config: EnvConfig, split: str) -> list[str]:
    """The names of ``config.buildings`` that ``split`` holds (a job's splits each take their own from one list);
    UnknownBuildingError for a name not in the catalogue, ValueError when ``split`` holds none of them."""
    allowed = set(building_names(split, config))
    for name in config.buildings or []:
        split_of(name, config)  # validates the name
    mine = [name for name in config.buildings or [] if name in allowed]
    if not mine:
        held = "; ".join(f"{name}: {' / '.join(splits_of(name, config))}" for name in config.buildings or [])
        raise ValueError(f"env.buildings lists no {split} building ({held}); add one or set env.buildings=null")
    return mine


def _fixed_set(config: EnvConfig, split: str) -> list[Episode]:
    """The whole stored or generated set of ``split`` (not train_fit, which is cut from train), validated."""
    if config.episodes_dir:
        path = Path(config.episodes_dir) / split / f"{split}.json.gz"
        episodes = load_episodes(path)
        where = str(path)
    else:
        key = episode_set_key(config, split)
        path = cache_dir() / key / split / f"{split}.json.gz"
        where = str(path)
        if key not in _MEMORY:
            episodes = None
            if path.exists():
                try:
                    episodes = load_episodes(path)
                except EpisodeFileError:
                    episodes = None  # a damaged cache is regenerated, never trusted
            if episodes is None:
                evaluation = split in EVALUATION_SPLITS  # heldout, train_val
                per = config.episodes.per_building_heldout if evaluation else config.episodes.per_building_train
                episodes = generate_episodes(building_names(split, config), per, config.episodes.seed, config)
                try:
                    save_episodes(path, episodes)
                except OSError:
                    pass  # a read-only home only costs regeneration next time
            _MEMORY[key] = episodes
        episodes = _MEMORY[key]
    validate_episodes(episodes, config, split, where)
    if config.episodes_dir:
        check_distance_range(episodes, config, where)
    return episodes


def check_distance_range(episodes: list[Episode], config: EnvConfig, where: str) -> None:
    """A ConfigError naming env.episodes_dir when an episode file's start-goal distances fall outside the run's
    env.episodes range (e.g. a 1-20 m set under a 1-6 m preset): the run would train or be scored on other
    episodes than its config says."""
    low, high = config.episodes.min_geodesic, config.episodes.max_geodesic
    distances = [ep.geodesic_distance for ep in episodes if math.isfinite(ep.geodesic_distance)]
    outside = [d for d in distances if not low - 1e-6 <= d <= high + 1e-6]
    if outside:
        raise ConfigError(
            "env.episodes_dir",
            f"{where} has {len(outside)} of {len(distances)} episodes outside env.episodes' {low:g}-{high:g} m "
            f"(its range is {min(distances):.1f}-{max(distances):.1f} m)",
            "write the set for this config with scripts/make_episodes.py OUT_DIR --config <the run's preset>, "
            "or set env.episodes.min_geodesic / max_geodesic to the set's",
        )


def validate_episodes(episodes: list[Episode], config: EnvConfig, split: str, where: str = "episode set") -> None:
    """Check every episode names a catalogue building of ``split`` and starts and ends in navigable space."""
    if not episodes:
        raise EpisodeFileError(f"{where}: no episodes; regenerate it with scripts/make_episodes.py")
    allowed = set(building_names(split, config))
    for ep in episodes:
        name = building_of(ep)
        try:
            split_of(name, config)
        except KeyError:
            raise EpisodeFileError(
                f"{where}: episode {ep.episode_id} uses building {name!r}, not in this catalogue "
                f"(catalogue_seed={config.catalogue_seed}); regenerate the episodes for this config"
            ) from None
        if name not in allowed:
            raise EpisodeFileError(
                f"{where}: episode {ep.episode_id} uses {' / '.join(splits_of(name, config))} building {name!r} "
                f"in the {split} set; held-out buildings must never appear in training data: regenerate the set"
            )
        nav = get_nav_grid(name, config)
        for label, point in (("start", ep.start_xy), ("goal", ep.goal_xy)):
            if not nav.is_navigable(*point):
                raise EpisodeFileError(
                    f"{where}: episode {ep.episode_id} {label} {point} is not navigable in {name!r} for agent "
                    f"radius {config.agent_radius}; the file was made for another config: regenerate it"
                )
