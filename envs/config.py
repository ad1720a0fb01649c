"""Typed configuration of the PointNav task and its backends (the `env:` section of configs/*.yaml).

Read through ``common.config.parse_section``, the one strict reader of every config section; each field is
checked once, in ``EnvConfig.__post_init__``, by the shared rules of common/config.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.config import ConfigError, check_choice, check_range, check_resolution, opt, parse_section
from envs.backends import FIT_SPLIT, VAL_SPLIT, backend_names, backend_spec  # the registered backends

SENSORS = ("rgb", "depth", "normals")
RENDER_DEVICES = ("cpu", "cuda", "torch-cpu")


@dataclass
class RewardConfig:
    """Per-step reward: progress_scale * (previous - current geodesic distance) + slack, + success bonus."""

    slack: float = opt(-0.01, "added every step")
    success: float = opt(10.0, "bonus on a successful STOP")
    progress_scale: float = opt(1.0, "times (previous - current geodesic distance to the goal)")


@dataclass
class EpisodeConfig:
    """How episodes are sampled (like Habitat's PointNav generator) and how many per building."""

    seed: int = opt(0, "seed of the episode generator")
    per_building_train: int = opt(200, "training episodes per building")
    per_building_heldout: int = opt(30, "held-out episodes per building (14 x 30 = the 420 evaluation episodes)")
    min_geodesic: float = opt(1.0, "shortest start-goal geodesic distance, metres")
    max_geodesic: float = opt(20.0, "longest start-goal geodesic distance, metres")
    min_geodesic_euclid_ratio: float = opt(1.1, "paths straighter than this ratio are rejected (below)")
    ratio_filter_prob: float = opt(0.9, "like Habitat: reject near-straight paths with this probability")

    def __post_init__(self) -> None:
        check_range(self.per_building_train, "env.episodes.per_building_train", 1)
        check_range(self.per_building_heldout, "env.episodes.per_building_heldout", 1)
        check_range(self.min_geodesic, "env.episodes.min_geodesic", 0, low_open=True)
        check_range(self.max_geodesic, "env.episodes.max_geodesic", self.min_geodesic)
        check_range(self.min_geodesic_euclid_ratio, "env.episodes.min_geodesic_euclid_ratio", 1)
        check_range(self.ratio_filter_prob, "env.episodes.ratio_filter_prob", 0, 1)


@dataclass
class EnvConfig:
    """Everything the task and the embedded backend need; field names are the YAML keys."""

    backend: str = opt("embedded", "the simulator: embedded (procedural buildings, batched)", backend_names)
    split: str = opt(
        "train", "train | heldout | train_fit | train_val (Habitat: train | val); the factory's default split"
    )
    buildings: list[str] | None = opt(None, "restrict episodes to these building names of the split; null: all")
    resolution: int = opt(128, "RGB (and depth/normals) side in pixels; a multiple of 16 in [16, 1024]; paper 256")
    hfov_deg: float = opt(90.0, "horizontal field of view of the camera, degrees")
    sensors: list[str] = opt(["rgb"], "rgb is always given; add depth and/or normals for pretraining and debugging")
    map_size: int = opt(84, "visited-locations map side in cells (observation 'map' is 3 x 84 x 84)")
    map_cell: float = opt(0.262, "metres per map cell (84 cells ~ 22 m, as the paper)")
    auto_stop: bool = opt(False, "true: the paper's 3-action agent, the env calls STOP within success_distance")
    success_distance: float = opt(0.2, "metres (geodesic) within which STOP succeeds")
    max_steps: int = opt(500, "episode limit; reaching it truncates the episode")
    forward_step: float = opt(0.25, "metres per MOVE_FORWARD")
    turn_angle_deg: float = opt(10.0, "degrees per TURN_LEFT / TURN_RIGHT")
    agent_radius: float = opt(0.15, "metres; collisions and the navigable area (geodesic distances) use it")
    agent_height: float = opt(1.5, "metres")
    camera_height: float = opt(1.25, "metres above the floor")
    render_device: str = opt("cpu", "cpu (numba kernels) | cuda | torch-cpu (the torch kernels on the CPU)")
    catalogue_seed: int = opt(0, "seed of the building catalogue (which buildings exist, and their split)")
    num_train_buildings: int = opt(72, "training buildings in the catalogue (paper: 72 Gibson buildings)")
    num_heldout_buildings: int = opt(14, "held-out buildings, never seen in training (paper: 14)")
    num_val_buildings: int = opt(8, "the last K training buildings form split train_val; train_fit: the others")
    episodes_dir: str | None = opt(None, "folder with {split}/{split}.json.gz (PointNav v1); null: generated")
    reward: RewardConfig = opt(RewardConfig, "the per-step reward")
    episodes: EpisodeConfig = opt(EpisodeConfig, "how episodes are generated (like Habitat's PointNav generator)")
    habitat_data_path: str | None = opt(None, "Habitat only: folder with datasets/pointnav/<dataset>/v1/...")
    habitat_scenes_dir: str | None = opt(None, "Habitat only: folder with the scene meshes")

    def __post_init__(self) -> None:
        check_choice(self.backend, backend_names(), "env.backend")
        splits = backend_spec(self.backend).splits
        if splits is not None:  # fixed split names (embedded); a dataset's splits are checked when loaded
            check_choice(self.split, splits, "env.split")
            check_val_buildings(self, self.split, "env.split")
        check_resolution(self.resolution, "env.resolution")
        if self.buildings is not None:
            if isinstance(self.buildings, str) or not isinstance(self.buildings, (list, tuple)):
                raise ConfigError(
                    "env.buildings",
                    f"{self.buildings!r} is not a list of names",
                    f"write env.buildings=[{self.buildings}]",
                )
            if not self.buildings:
                raise ConfigError(
                    "env.buildings", "is an empty list", "name at least one building, or use null for all buildings"
                )
        for sensor in self.sensors:
            check_choice(sensor, SENSORS, "env.sensors")
        check_choice(self.render_device, RENDER_DEVICES, "env.render_device")
        check_range(self.max_steps, "env.max_steps", 1)
        check_range(self.map_size, "env.map_size", 8)
        check_range(self.map_cell, "env.map_cell", 0, low_open=True)
        check_range(self.hfov_deg, "env.hfov_deg", 0, 180, low_open=True, high_open=True)
        check_range(self.num_train_buildings, "env.num_train_buildings", 1)
        check_range(self.num_heldout_buildings, "env.num_heldout_buildings", 1)
        check_range(self.num_val_buildings, "env.num_val_buildings", 1)
        check_range(self.success_distance, "env.success_distance", 0, low_open=True)
        check_range(self.forward_step, "env.forward_step", 0, low_open=True)
        check_range(self.turn_angle_deg, "env.turn_angle_deg", 0, 180, low_open=True)
        check_range(self.agent_radius, "env.agent_radius", 0, low_open=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> EnvConfig:
        """Build from a mapping (YAML section), rejecting unknown keys and wrong types by their dotted name."""
        return parse_section(cls, dict(values or {}), "env")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for writing the resolved config."""
        return dataclasses.asdict(self)


def check_val_buildings(config: EnvConfig, split: str, where: str) -> None:
    """A ConfigError unless ``split`` (named by ``where``), when it is train_fit or train_val, leaves both parts of
    the training buildings non-empty: 1 <= env.num_val_buildings < env.num_train_buildings."""
    if split in (FIT_SPLIT, VAL_SPLIT) and config.num_val_buildings >= config.num_train_buildings:
        raise ConfigError(
            "env.num_val_buildings",
            f"{config.num_val_buildings} leaves no {FIT_SPLIT} building of the {config.num_train_buildings} "
            f"training buildings ({where}={split})",
            f"use 1 to {config.num_train_buildings - 1}",
        )
