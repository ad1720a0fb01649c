"""Typed configuration of the PointNav task and its backends (the `env:` section of configs/*.yaml).

``parse_section`` is the one strict reader of a YAML section into a dataclass: unknown keys, missing keys,
wrong types and nulls where a value is needed are ``ConfigError``s naming the dotted key, so every config
section (env here, policy/run/ppo/train/bc/eval/pretrain in agents/run/run_config.py) is checked the same way.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

BACKENDS = ("embedded", "habitat")
EMBEDDED_SPLITS = ("train", "heldout")  # Habitat splits are folders of the dataset (train, val, ...)
SENSORS = ("rgb", "depth", "normals")
RENDER_DEVICES = ("cpu", "cuda", "torch-cpu")


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range.

    ``ConfigError(field, problem, fix)`` reads ``field: problem (fix)``, the one shape of a bad-input
    message; a single argument is used as the whole message."""

    def __init__(self, field_or_message: str, problem: str | None = None, fix: str | None = None) -> None:
        self.field = field_or_message if problem is not None else None
        message = field_or_message if problem is None else f"{field_or_message}: {problem}" + (f" ({fix})" if fix else "")
        super().__init__(message)


def check_choice(value: Any, choices: typing.Sequence[Any], where: str) -> None:
    """Raise a ConfigError naming ``where`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(where, f"{value!r} is unknown", f"choose one of {', '.join(map(str, choices))}")


def check_range(value: Any, where: str, low: float | None = None, high: float | None = None, *, high_open: bool = False, low_open: bool = False) -> None:
    """Raise a ConfigError naming ``where`` unless ``low <= value <= high`` (open ends when asked; None: unbounded)."""
    if value is None:
        return
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise ConfigError(where, f"{value!r} is out of range", f"use a value {' and '.join(p for p in (lo, hi) if p)}")


def check_resolution(size: Any, where: str = "env.resolution", minimum: int = 16) -> int:
    """The one image-size rule (env, renderer, encoders): an int multiple of 16 in [minimum, 1024]."""
    if isinstance(size, bool) or not hasattr(size, "__index__"):
        raise ConfigError(where, f"{size!r} is not a whole number of pixels", "use a multiple of 16, e.g. 64, 128 or 256")
    size = int(size)
    if size < minimum or size > 1024 or size % 16:
        raise ConfigError(where, f"{size} is unsupported", f"use a multiple of 16 between {minimum} and 1024, e.g. 64, 128 or 256")
    return size


def parse_section(cls: type, values: Any, where: str) -> Any:
    """A ``cls`` dataclass from a plain mapping, each value checked against the field's type hint.

    Unknown keys, keys without a default that are missing, values of the wrong type and nulls in fields
    that are not ``X | None`` raise a ConfigError naming the dotted key; nested dataclasses recurse."""
    if dataclasses.is_dataclass(values) and isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(where, f"{values!r} is not a section of keys", f"write it as a mapping of the keys of {cls.__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(_dotted(where, unknown[0]), "unknown key", f"valid keys{' of ' + where if where else ''}: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(_dotted(where, name), "missing", "add it; the files in configs/ list every key with its default")
            continue
        kwargs[name] = coerce(values[name], hints[name], _dotted(where, name))
    return cls(**kwargs)


def _number(value: Any, where: str, problem: str, fix: str) -> float:
    """``value`` (a number, or a string holding one; never a bool) as a float, or a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(where, f"{value!r} {problem}", fix)
    try:
        return float(value)
    except ValueError:
        raise ConfigError(where, f"{value!r} {problem}", fix) from None


def _dotted(where: str, name: str) -> str:
    """'env' + 'resolution' -> 'env.resolution'; the root section has no prefix."""
    return f"{where}.{name}" if where else name


def _type_name(hint: Any) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the type ``hint`` (int, float, bool, str, X | None, list[X], a dataclass, Any) or a ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(value, inner, where)
    if hint is Any:
        return value
    if value is None:
        raise ConfigError(where, "must not be null", f"give {_type_name(hint)}")
    if dataclasses.is_dataclass(hint):
        return parse_section(hint, value, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(where, f"{value!r} is not a list", f"write a list, e.g. {where}=[{value}]")
        return [coerce(v, args[0] if args else Any, f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(where, f"{value!r} is not true or false", "use true or false")
    if hint is int:
        number = _number(value, where, "is not a whole number", "give an integer, e.g. 64")
        if not number.is_integer():
            raise ConfigError(where, f"{value!r} is not a whole number", "give an integer, e.g. 64")
        return int(number)
    if hint is float:
        number = _number(value, where, "is not a number", "give a number, e.g. 0.5")
        if number != number or number in (float("inf"), float("-inf")):
            raise ConfigError(where, f"{value!r} is not a finite number", "give a finite number")
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(where, f"{value!r} is not a string", "give a plain value, e.g. name")
    return value


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
        check_choice(self.backend, BACKENDS, "env.backend")
        if self.backend == "embedded":
            check_choice(self.split, EMBEDDED_SPLITS, "env.split")
        check_resolution(self.resolution, "env.resolution", minimum=32)
        if self.buildings is not None:
            if isinstance(self.buildings, str) or not isinstance(self.buildings, (list, tuple)):
                raise ConfigError("env.buildings", f"{self.buildings!r} is not a list of names", f"write env.buildings=[{self.buildings}]")
            if not self.buildings:
                raise ConfigError("env.buildings", "is an empty list", "name at least one building, or use null for all buildings")
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
    def from_dict(cls, values: Mapping[str, Any] | None) -> "EnvConfig":
        """Build from a mapping (YAML section), rejecting unknown keys and wrong types by their dotted name."""
        return parse_section(cls, dict(values or {}), "env")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, for writing the resolved config."""
        return dataclasses.asdict(self)
