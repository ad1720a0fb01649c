"""Layered configuration: the dataclass defaults, then a preset of configs/, then --config FILE, then CLI flags,
then key=value.

Every field's default and help line live in its dataclass (agents/run/run_config.py, envs/config.py,
policies/methods.py); a preset (configs/<name>.yaml) names its job with ``_trainer_: ppo`` and holds only what it
changes. A config file may name files it builds on with ``_base_: [ppo.yaml, ...]`` (paths relative to itself).
Every field is overridable from the command line with dotted ``key=value`` pairs (``ppo.n_steps=256``).
Unknown keys are errors, so a typo never silently does nothing. ``load_run_config`` turns the layers into
the typed, checked ``RunConfig`` (agents/run/run_config.py) that every script passes down.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from common.config import ConfigError, did_you_mean

if TYPE_CHECKING:
    from agents.run.run_config import RunConfig
    from envs.config import EnvConfig

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
TRAINER_KEY = "_trainer_"  # a preset's job (agents/run/trainers.py), which decides its config sections


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


def preset_path(preset: str | Path) -> Path:
    """The file of a preset: a name of configs/ (``ppo``, ``ppo_gpu.yaml``) or the path of any config file."""
    path = Path(preset).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    if path.parent == Path(".") and (CONFIG_DIR / name).is_file():
        return CONFIG_DIR / name
    if path.suffix in (".yaml", ".yml"):
        return path  # reported as missing where it is read
    hint = did_you_mean(path.name, preset_names())
    raise ConfigFileError(
        "--config", f"{str(preset)!r} is neither a preset nor a file", f"{hint}presets: {', '.join(preset_names())}"
    )


def preset_names() -> list[str]:
    """The presets of configs/: the files that name their job (``_trainer_``, maybe through ``_base_``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml") if TRAINER_KEY in _read_yaml(p))


def read_config_path(path: str | Path) -> DictConfig:
    """Any config file (a run's config.yaml, a preset) with its `_base_` files merged under it."""
    return _read_yaml(Path(path))


def read_env_config(source: str | Path, overrides: Iterable[str] = ()) -> EnvConfig:
    """The checked ``env:`` section of a preset (a name or its file, over the defaults) or of any other config file
    such as a run's config.yaml (over EnvConfig's defaults), with ``env.*`` ``key=value`` overrides."""
    from envs.config import EnvConfig

    path = preset_path(source)
    tree = _read_yaml(path)
    if TRAINER_KEY in tree:
        return load_run_config(path, None, None, overrides).env
    env = OmegaConf.create({"env": EnvConfig.from_dict(to_container(tree).get("env") or {}).to_dict()})
    pairs = list(overrides)
    if pairs:
        env = apply_strict(env, parse_overrides(pairs), "key=value overrides")
    return EnvConfig.from_dict(to_container(env)["env"])


def defaults_tree(trainer: str) -> DictConfig:
    """The base layer of a ``trainer`` job's presets: every field of its sections at its dataclass default, so a
    preset holds only what it changes and an override of any field is checked against the schema."""
    from agents.run.run_config import SECTIONS, RunConfig
    from agents.run.trainers import trainer_spec

    sections = ("env", *trainer_spec(trainer).sections)
    tree: dict[str, Any] = {"frame_stack": RunConfig().frame_stack}
    tree.update({name: dataclasses.asdict(SECTIONS[name]()) for name in sections})
    return OmegaConf.create(tree)


def preset_trainer(tree: DictConfig, source: str) -> str | None:
    """Pop and check the job a config file names (``_trainer_: ppo``); None when it names none."""
    from agents.run.trainers import trainer_names

    trainer = tree.pop(TRAINER_KEY, None)
    if trainer is not None and trainer not in trainer_names():
        hint = did_you_mean(str(trainer), trainer_names())
        raise ConfigFileError(
            f"{source}: {TRAINER_KEY}", f"{trainer!r} is unknown", f"{hint}use one of {', '.join(trainer_names())}"
        )
    return trainer


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
            key, f"unknown key in the {source}", f"{hint}run the script with --help-config to see the valid keys"
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


def load_layers(
    preset: str | Path,
    config_file: str | Path | None = None,
    flag_overrides: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
) -> DictConfig:
    """The untyped layers: the dataclass defaults < the ``preset`` < ``config_file`` < flags < ``key=value``.

    The preset names its job (``_trainer_``), which decides the sections; ``config_file`` (a preset name or any
    file) must be a config of the same job when it names one."""
    preset_file = preset_path(preset)
    tree = _read_yaml(preset_file)
    trainer = preset_trainer(tree, str(preset_file))
    if trainer is None:
        raise ConfigFileError(
            "--config", f"{preset_file} names no job", f"add `{TRAINER_KEY}: ppo` (or bc, pretrain, evaluate)"
        )
    cfg = apply_strict(defaults_tree(trainer), tree, f"preset {preset_file.name}")
    if config_file:
        user_file = preset_path(config_file)
        user = _read_yaml(user_file)
        theirs = preset_trainer(user, str(user_file))
        if theirs is not None and theirs != trainer:
            raise ConfigFileError(
                "--config",
                f"{user_file} configures {theirs}, not {trainer}",
                f"run {_program_of(theirs)} with it, or pass a {trainer} config",
            )
        cfg = apply_strict(cfg, user, f"--config {config_file}")
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


def _program_of(trainer: str) -> str:
    """The script that runs a job, for messages."""
    from agents.run.trainers import trainer_spec

    return trainer_spec(trainer).script or "scripts/evaluate.py"


def load_run_config(
    preset: str | Path,
    config_file: str | Path | None = None,
    flag_overrides: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    require: Sequence[str] = (),
) -> RunConfig:
    """The typed, checked run configuration of the layers (see ``load_layers``)."""
    from agents.run.run_config import RunConfig

    return RunConfig.from_dict(to_container(load_layers(preset, config_file, flag_overrides, overrides)), require)


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
