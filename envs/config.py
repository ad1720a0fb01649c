"""Typed configuration of the PointNav task and its backends (the `env:` section of configs/*.yaml)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range."""


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
        if self.backend not in ("embedded", "habitat"):
            raise ConfigError(f"env.backend={self.backend!r} is unknown; use 'embedded' or 'habitat'")
        if self.resolution < 32 or self.resolution > 1024 or self.resolution % 16:
            raise ConfigError(
                f"env.resolution={self.resolution} is unsupported; use a multiple of 16 between 32 and 1024 (e.g. 64, 128, 256)"
            )
        unknown = set(self.sensors) - {"rgb", "depth", "normals"}
        if unknown:
            raise ConfigError(f"env.sensors has unknown sensors {sorted(unknown)}; choose from rgb, depth, normals")
        if self.render_device not in ("cpu", "cuda", "torch-cpu"):
            raise ConfigError(f"env.render_device={self.render_device!r} is unknown; use cpu, cuda or torch-cpu")
        if self.max_steps < 1 or self.map_size < 8 or self.map_cell <= 0:
            raise ConfigError("env.max_steps must be >= 1, env.map_size >= 8 and env.map_cell > 0")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> "EnvConfig":
        """Build from a mapping (YAML section), rejecting unknown keys with the list of valid ones."""
        return _from_dict(cls, dict(values or {}), "env")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for writing the resolved config."""
        return dataclasses.asdict(self)


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; valid keys are {sorted(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        sub = {"reward": RewardConfig, "episodes": EpisodeConfig}.get(name) if cls is EnvConfig else None
        kwargs[name] = _from_dict(sub, dict(value or {}), f"{where}.{name}") if sub else value
    return cls(**kwargs)
