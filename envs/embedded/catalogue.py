"""The fixed catalogue of named embedded buildings and its train / held-out split.

Names and building seeds come from ``EnvConfig.catalogue_seed``: the first ``num_train_buildings`` names
form the training split, the next ``num_heldout_buildings`` the held-out split (72 / 14 by default, like
the paper's Gibson split). Names are pronounceable (``Ambrona``-like) and unique within a catalogue.
The training split is cut in two for design choices: ``train_val`` is its last ``num_val_buildings`` names,
``train_fit`` the others, so held-out buildings serve verdicts only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from common.errors import UserError
from envs.backends import EMBEDDED_SPLITS, FIT_SPLIT, VAL_SPLIT
from envs.config import EnvConfig
from envs.embedded.buildings import generate_building
from envs.embedded.navigation import NavGrid, navigable_grid
from envs.embedded.world import Building

SPLITS = EMBEDDED_SPLITS  # train | heldout | train_fit | train_val
_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "cr",
    "st",
    "tr",
    "gl",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
_ENDINGS = ["", "n", "r", "s", "ton", "ville", "field", "ford", "wood", "dale"]


class UnknownBuildingError(UserError, KeyError):
    """A building name that is not in the catalogue (KeyError so ``in``-style callers can catch it)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@lru_cache(maxsize=8)
def _catalogue(seed: int, n_train: int, n_heldout: int) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, int]]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA7A]))
    names: list[str] = []
    seeds: dict[str, int] = {}
    while len(names) < n_train + n_heldout:
        syllables = "".join(
            _ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))] for _ in range(rng.integers(2, 4))
        )
        name = (syllables + _ENDINGS[rng.integers(len(_ENDINGS))]).capitalize()
        if name not in seeds:
            names.append(name)
            seeds[name] = int(rng.integers(2**31 - 1))
    return tuple(names[:n_train]), tuple(names[n_train:]), seeds


def _entries(config: EnvConfig) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, int]]:
    if config.num_train_buildings < 1 or config.num_heldout_buildings < 1:
        raise ValueError(
            f"num_train_buildings={config.num_train_buildings} and "
            f"num_heldout_buildings={config.num_heldout_buildings} must both be >= 1"
        )
    return _catalogue(int(config.catalogue_seed), int(config.num_train_buildings), int(config.num_heldout_buildings))


def building_names(split: str, config: EnvConfig) -> list[str]:
    """Names of the buildings in ``split`` (one of ``SPLITS``), in catalogue order; train_fit and train_val are
    empty when ``num_val_buildings`` would leave train_fit empty (using them is then a ConfigError:
    ``envs.config.check_val_buildings``)."""
    train, heldout, _ = _entries(config)
    if split == "train":
        return list(train)
    if split == "heldout":
        return list(heldout)
    if split in (FIT_SPLIT, VAL_SPLIT):
        cut = len(train) - int(config.num_val_buildings)
        if cut < 1:
            return []
        return list(train[:cut] if split == FIT_SPLIT else train[cut:])
    raise ValueError(f"unknown split {split!r}; the embedded catalogue has splits {SPLITS}")


def splits_of(name: str, config: EnvConfig) -> list[str]:
    """Every split that holds building ``name`` (e.g. ``['train', 'train_val']``); UnknownBuildingError if none."""
    split_of(name, config)  # validates the name
    return [split for split in SPLITS if name in building_names(split, config)]


def split_of(name: str, config: EnvConfig) -> str:
    """The split ('train' or 'heldout') that building ``name`` belongs to."""
    train, heldout, _ = _entries(config)
    if name in train:
        return "train"
    if name in heldout:
        return "heldout"
    raise UnknownBuildingError(
        f"unknown building {name!r} in catalogue (seed {config.catalogue_seed}); "
        "list valid names with envs.embedded.catalogue.building_names('train' | 'heldout', config)"
    )


def get_building(name: str, config: EnvConfig) -> Building:
    """The building ``name`` of the configured catalogue (generated once, then cached)."""
    split_of(name, config)  # validates the name
    return _generate(name, _entries(config)[2][name])


@lru_cache(maxsize=128)
def _generate(name: str, seed: int) -> Building:
    building = generate_building(name, seed)
    for array in (building.walls, building.pillars, building.textures):
        array.flags.writeable = False  # shared by every caller: nobody may edit a cached building
    return building


def get_nav_grid(name: str, config: EnvConfig) -> NavGrid:
    """The navigable grid of building ``name`` for the configured agent radius (cached)."""
    building = get_building(name, config)
    return _nav(name, building.seed, float(config.agent_radius))


@lru_cache(maxsize=128)
def _nav(name: str, seed: int, agent_radius: float) -> NavGrid:
    grid = navigable_grid(_generate(name, seed), agent_radius)
    grid.navigable.flags.writeable = False
    return grid
