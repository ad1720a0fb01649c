"""Config field parsers shared by every layer: the one strict reader of a YAML section into a dataclass
(``parse_section``), the per-field rules (``check_choice``, ``check_range``, ``check_resolution``) and
``ConfigError``, so envs, policies and agents check their config sections the same way without importing
each other. Every config dataclass calls these from its ``__post_init__`` (validated once, when built).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from common.errors import UserError

IMAGE_MULTIPLE = 16  # features are 1/16 of the image (the Taskonomy contract), so image sides are multiples of 16
MIN_RESOLUTION, MAX_RESOLUTION = 16, 1024


def opt(default: Any, help: str, choices: Callable[[], typing.Iterable[str]] | None = None) -> Any:
    """A config field's default and its one-line help, written once beside the field (the schema's one source:
    the base layer of every preset and ``--help-config`` read them). ``choices`` returns the valid names where a
    registry holds them, so help never lists them by hand. Lists and dicts get a factory."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_help(f: dataclasses.Field) -> str:
    """The help line of a config field, with its registered choices when it has them ('' when it has no help)."""
    text = str(f.metadata.get("help", ""))
    choices = f.metadata.get("choices")
    return f"{text} (choices: {', '.join(map(str, choices()))})" if choices else text


class ConfigError(UserError, ValueError):
    """A configuration value that is unknown, of the wrong type or out of range: ``ConfigError(field, problem,
    fix)`` reads ``field: problem (fix)``, the one shape of a bad-input message."""


def did_you_mean(name: str, choices: typing.Iterable[str]) -> str:
    """A ``did you mean `x`? `` hint (difflib) for a misspelt key or value, to open a fix; '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`? " if close else ""


def check_choice(value: Any, choices: typing.Sequence[Any], where: str) -> None:
    """Raise a ConfigError naming ``where`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ConfigError(where, f"{value!r} is unknown", f"{hint}choose one of {', '.join(map(str, choices))}")


def check_range(
    value: Any,
    where: str,
    low: float | None = None,
    high: float | None = None,
    *,
    high_open: bool = False,
    low_open: bool = False,
) -> None:
    """Raise a ConfigError naming ``where`` unless ``low <= value <= high`` (open ends when asked; None: unbounded)."""
    if value is None:
        return
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        raise ConfigError(where, f"{value!r} is out of range", f"use a value {' and '.join(p for p in (lo, hi) if p)}")


def check_resolution(size: Any, where: str = "env.resolution") -> int:
    """The one image-size rule (env, renderer, encoders, pretraining): a whole number of pixels, a multiple of
    16 in [16, 1024], since encoder features are 1/16 of the image (128 -> 8x8). Returns it as an int."""
    fix = f"use a multiple of {IMAGE_MULTIPLE} between {MIN_RESOLUTION} and {MAX_RESOLUTION}, e.g. 64, 128 or 256"
    if isinstance(size, bool) or not hasattr(size, "__index__"):
        raise ConfigError(where, f"{size!r} is not a whole number of pixels", fix)
    size = int(size)
    if not MIN_RESOLUTION <= size <= MAX_RESOLUTION or size % IMAGE_MULTIPLE:
        raise ConfigError(where, f"{size} is unsupported", fix)
    return size


def parse_section(cls: type, values: Any, where: str) -> Any:
    """A ``cls`` dataclass from a plain mapping, each value checked against the field's type hint.

    Unknown keys, keys without a default that are missing, values of the wrong type and nulls in fields
    that are not ``X | None`` raise a ConfigError naming the dotted key; nested dataclasses recurse."""
    if dataclasses.is_dataclass(values) and isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(
            where, f"{values!r} is not a section of keys", f"write it as a mapping of the keys of {cls.__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise ConfigError(
            _dotted(where, unknown[0]),
            "unknown key",
            f"{hint}valid keys{' of ' + where if where else ''}: {', '.join(sorted(fields))}",
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(
                    _dotted(where, name), "missing", "add it; the files in configs/ list every key with its default"
                )
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
