"""Layered YAML configuration: defaults in configs/, then --config FILE, then CLI flags, then key=value.

A config file may name files it builds on with ``_base_: [env.yaml, ...]`` (paths relative to itself).
Every field is overridable from the command line with dotted ``key=value`` pairs (``ppo.n_steps=256``).
Unknown keys are errors, so a typo never silently does nothing. ``load_run_config`` turns the layers into
the typed, checked ``RunConfig`` (agents/run/run_config.py) that every script passes down.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from common.config import ConfigError, did_you_mean

if TYPE_CHECKING:
    from agents.run.run_config import RunConfig

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


class ConfigFileError(ConfigError):
    """A config file or override that cannot be used: ``ConfigFileError(field, problem, fix)``."""


# path -> (the stat stamps of it and its _base_ files, their merged config): every run config, sweep cell and
# report reads the same few presets, and parsing plus merging them costs about 70 ms a time (a 108-cell sweep spent
# 10 s on it); a copy of the cached tree costs 6 ms. A file whose stamp changed is read again.
_READ_CACHE: dict[Path, tuple[tuple[tuple[str, int, int], ...], DictConfig]] = {}


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> DictConfig:
    """``path`` with its ``_base_`` files merged under it (a fresh copy the caller may change)."""
    path = path.resolve()
    if path in seen:
        raise ConfigFileError(
            "--config", f"{path} includes itself through _base_ ({' -> '.join(map(str, seen))})", "remove the loop"
        )
    cached = _READ_CACHE.get(path)
    if cached is not None:
        stamps, cfg = cached
        try:
            if all(_stamp(Path(stamp[0])) == stamp for stamp in stamps):
                return copy.deepcopy(cfg)
        except OSError:
            pass
    cfg, stamps = _parse_yaml(path, seen)
    _READ_CACHE[path] = (stamps, copy.deepcopy(cfg))
    return cfg


def _parse_yaml(path: Path, seen: tuple[Path, ...]) -> tuple[DictConfig, tuple[tuple[str, int, int], ...]]:
    """Read and merge ``path`` and its ``_base_`` files; also their stat stamps, taken before reading."""
    if not path.exists():
        raise ConfigFileError("--config", f"file {path} does not exist", f"see the files in {CONFIG_DIR}")
    stamps = [_stamp(path)]
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # yaml.YAMLError and friends
        first = str(err).replace("\n", " ")
        raise ConfigFileError("--config", f"file {path} is not valid YAML: {first}", "fix the file") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigFileError(
            "--config", f"file {path} does not hold a mapping at the top level", "write sections such as env: and ppo:"
        )
    bases = cfg.pop("_base_", None) or []
    if isinstance(bases, str):
        bases = [bases]
    merged = OmegaConf.create()
    for base in bases:
        base_path = (path.parent / str(base)).resolve()
        merged = OmegaConf.merge(merged, _read_yaml(base_path, seen + (path,)))
        stamps.extend(_READ_CACHE[base_path][0])
    return OmegaConf.merge(merged, cfg), tuple(dict.fromkeys(stamps))


def read_config_file(name: str) -> DictConfig:
    """A file of configs/ with its `_base_` files merged under it."""
    return _read_yaml(CONFIG_DIR / name)


def read_config_path(path: str | Path) -> DictConfig:
    """Any config file (a run's config.yaml, a preset) with its `_base_` files merged under it."""
    return _read_yaml(Path(path))


def apply_strict(cfg: DictConfig, update: DictConfig, source: str) -> DictConfig:
    """Merge ``update`` into ``cfg``, rejecting keys that ``cfg`` does not define (the one strict-override rule)."""
    OmegaConf.set_struct(cfg, True)
    try:
        merged = OmegaConf.merge(cfg, update)
    except OmegaConfBaseException as err:
        key = str(getattr(err, "full_key", None) or str(err).splitlines()[0])
        parent, _, name = key.rpartition(".")
        section = OmegaConf.select(cfg, parent) if parent else cfg
        hint = did_you_mean(name, list(section.keys())) if isinstance(section, DictConfig) else ""
        raise ConfigFileError(
            key, f"unknown key in the {source}", f"{hint}run the script with --print-config to see the valid keys"
        ) from None
    OmegaConf.set_struct(merged, False)
    return merged


def parse_overrides(pairs: Iterable[str]) -> DictConfig:
    """``key=value`` strings as a config tree; anything else is a ConfigFileError."""
    pairs = list(pairs)
    for pair in pairs:
        if "=" not in pair or pair.startswith("="):
            raise ConfigFileError(pair, "is not an override", "write key=value, e.g. ppo.n_steps=256")
    try:
        return OmegaConf.from_dotlist(pairs)
    except OmegaConfBaseException as err:
        raise ConfigFileError(
            " ".join(pairs),
            f"cannot be read ({str(err).splitlines()[0]})",
            "write key=value, e.g. env.buildings=[Name]",
        ) from None


def load_config(
    default_file: str,
    config_file: str | None = None,
    flag_overrides: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
) -> DictConfig:
    """The untyped layers: ``configs/<default_file>`` < ``config_file`` < flags < ``key=value``."""
    cfg = read_config_file(default_file)
    if config_file:
        cfg = apply_strict(cfg, _read_yaml(Path(config_file)), f"--config {config_file}")
    flags = {k: v for k, v in (flag_overrides or {}).items() if v is not None}
    if flags:
        dotted = OmegaConf.create()
        for key, value in flags.items():
            OmegaConf.update(dotted, key, value, force_add=True)
        cfg = apply_strict(cfg, dotted, "command-line flags")
    pairs = list(overrides)
    if pairs:
        cfg = apply_strict(cfg, parse_overrides(pairs), "key=value overrides")
    return cfg


def load_run_config(
    default_file: str,
    config_file: str | None = None,
    flag_overrides: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    require: Sequence[str] = (),
) -> RunConfig:
    """The typed, checked run configuration of the layers (see ``load_config``)."""
    from agents.run.run_config import RunConfig

    return RunConfig.from_dict(to_container(load_config(default_file, config_file, flag_overrides, overrides)), require)


def to_container(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Plain nested dict of a config tree (resolving interpolations)."""
    if isinstance(cfg, DictConfig):
        try:
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
        except OmegaConfBaseException as err:
            raise ConfigFileError(
                str(getattr(err, "full_key", "config")),
                f"cannot be resolved ({str(err).splitlines()[0]})",
                "fix the ${...} reference",
            ) from None
    return dict(cfg)


def to_yaml(cfg: Any) -> str:
    """YAML text of a config (a RunConfig or a tree), as written into a run folder."""
    tree = cfg.to_dict() if hasattr(cfg, "to_dict") else to_container(cfg)
    return OmegaConf.to_yaml(OmegaConf.create(tree))
