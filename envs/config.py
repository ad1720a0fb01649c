"""Typed configuration of the PointNav task and its backends (the `env:` section of configs/*.yaml).

Read through ``common.config.parse_section``, the one strict reader of every config section; each field is
checked once, in ``EnvConfig.__post_init__``, by the shared rules of common/config.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.config import ConfigError, check_choice, check_range, check_resolution, parse_section
from envs.backends import backend_names, backend_spec  # the registered backends

SENSORS = ("rgb", "depth", "normals")
RENDER_DEVICES = ("cpu", "cuda", "torch-cpu")


@dataclass
class RewardConfig:
    """Per-step reward: progress_scale * (previous - current geodesic distance) + slack, + success bonus."""

    slack: float = -0.01
    success: float = 10.0
    progress_scale: float = 1.0


@dataclass
class EpisodeConfig:
    """How episodes are sampled (like Habitat's PointNav generator) and how many per building."""

    seed: int = 0
    per_building_train: int = 200
    per_building_heldout: int = 30  # 14 held-out buildings x 30 = the 420 evaluation episodes
    min_geodesic: float = 1.0
    max_geodesic: float = 20.0
    min_geodesic_euclid_ratio: float = 1.1
    ratio_filter_prob: float = 0.9  # like Habitat: reject near-straight paths with this probability

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

    backend: str = "embedded"  # embedded | habitat
    split: str = "train"  # train | heldout (Habitat: train | val)
    buildings: list[str] | None = None  # restrict to these building names (must belong to the split)
    resolution: int = 128  # square RGB side in pixels
    hfov_deg: float = 90.0
    sensors: list[str] = field(default_factory=lambda: ["rgb"])  # rgb is always given; extra: depth, normals
    map_size: int = 84
    map_cell: float = 0.262  # metres per visited-map cell (84 cells ~ 22 m, as the paper)
    auto_stop: bool = False  # True: the paper's 3-action agent, the env calls STOP within success_distance
    success_distance: float = 0.2
    max_steps: int = 500
    forward_step: float = 0.25
    turn_angle_deg: float = 10.0
    agent_radius: float = 0.15
    agent_height: float = 1.5
    camera_height: float = 1.25
    render_device: str = "cpu"  # cpu (numba kernels) | cuda | torch-cpu (the torch kernels on the CPU)
    catalogue_seed: int = 0
    num_train_buildings: int = 72
    num_heldout_buildings: int = 14
    episodes_dir: str | None = None  # folder with {split}/{split}.json.gz; None: generate deterministically
    reward: RewardConfig = field(default_factory=RewardConfig)
    episodes: EpisodeConfig = field(default_factory=EpisodeConfig)
    # Habitat only
    habitat_data_path: str | None = None
    habitat_scenes_dir: str | None = None

    def __post_init__(self) -> None:
        check_choice(self.backend, backend_names(), "env.backend")
        splits = backend_spec(self.backend).splits
        if splits is not None:  # fixed split names (embedded); a dataset's splits are checked when loaded
            check_choice(self.split, splits, "env.split")
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
