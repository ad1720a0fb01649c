"""Layered YAML configuration: defaults in configs/, then --config FILE, then CLI flags, then key=value.

A config file may name files it builds on with ``_base_: [env.yaml, ...]`` (paths relative to itself).
Every field is overridable from the command line with dotted ``key=value`` pairs (``ppo.n_steps=256``).
Unknown keys are errors, so a typo never silently does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class ConfigFileError(ValueError):
    """A config file or override that cannot be used, with the reason and the fix."""


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> DictConfig:
    path = path.resolve()
    if path in seen:
        raise ConfigFileError(f"config {path} includes itself through _base_ ({' -> '.join(map(str, seen))})")
    if not path.exists():
        raise ConfigFileError(f"config file {path} does not exist; see the files in {CONFIG_DIR}")
    try:
        cfg = OmegaConf.load(path)
    except Exception as err:  # yaml.YAMLError and friends
        raise ConfigFileError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigFileError(f"config file {path} must hold a mapping at the top level")
    bases = cfg.pop("_base_", None) or []
    if isinstance(bases, str):
        bases = [bases]
    merged = OmegaConf.create()
    for base in bases:
        merged = OmegaConf.merge(merged, _read_yaml(path.parent / str(base), seen + (path,)))
    return OmegaConf.merge(merged, cfg)


def _apply_strict(cfg: DictConfig, update: DictConfig, source: str) -> DictConfig:
    """Merge ``update`` into ``cfg``, rejecting keys that the defaults do not define."""
    OmegaConf.set_struct(cfg, True)
    try:
        merged = OmegaConf.merge(cfg, update)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or str(err).splitlines()[0]
        raise ConfigFileError(
            f"{source}: unknown or invalid config key {key!r}; run the script with --print-config to see valid keys"
        ) from None
    OmegaConf.set_struct(merged, False)
    return merged


def load_config(
    default_file: str,
    config_file: str | None = None,
    flag_overrides: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
) -> DictConfig:
    """Resolve a job's configuration: ``configs/<default_file>`` < ``config_file`` < flags < ``key=value``."""
    cfg = _read_yaml(CONFIG_DIR / default_file)
    if config_file:
        cfg = _apply_strict(cfg, _read_yaml(Path(config_file)), f"--config {config_file}")
    flags = {k: v for k, v in (flag_overrides or {}).items() if v is not None}
    if flags:
        dotted = OmegaConf.create()
        for key, value in flags.items():
            OmegaConf.update(dotted, key, value, force_add=True)
        cfg = _apply_strict(cfg, dotted, "command-line flag")
    pairs = list(overrides)
    bad = [p for p in pairs if "=" not in p or p.startswith("=")]
    if bad:
        raise ConfigFileError(f"overrides must look like key=value (e.g. ppo.n_steps=256); got {bad}")
    if pairs:
        cfg = _apply_strict(cfg, OmegaConf.from_dotlist(pairs), "key=value override")
    return cfg


def to_container(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Plain nested dict of a config (resolving interpolations)."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def to_yaml(cfg: DictConfig | Mapping[str, Any]) -> str:
    """YAML text of a config, as written into a run folder."""
    return OmegaConf.to_yaml(OmegaConf.create(to_container(cfg)))
