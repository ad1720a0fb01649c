"""``--help-config``: every config field of a job with its default, the value the preset (and any --config, flags
and key=value given) resolves to, and its help line, all read from the dataclasses, the one schema."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from agents.run.run_config import SECTIONS, RunConfig
from common.config import field_help


def _show(value: Any) -> str:
    """A value as it is written on the command line (YAML flow: null, true, [a, b])."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def config_rows(cfg: RunConfig) -> Iterator[tuple[str, str, str, str]]:
    """(dotted key, default, resolved value, help) of every field of ``cfg``'s present sections, in schema order."""
    frame_stack = next(f for f in dataclasses.fields(RunConfig) if f.name == "frame_stack")
    yield "frame_stack", _show(frame_stack.default), _show(cfg.frame_stack), field_help(frame_stack)
    for name in SECTIONS:
        section = getattr(cfg, name)
        if section is not None:
            yield from _rows(section, type(section)(), name)


def _rows(values: Any, defaults: Any, prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for f in dataclasses.fields(values):
        if not f.init:
            continue
        key = f"{prefix}.{f.name}"
        value, default = getattr(values, f.name), getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            yield from _rows(value, default, key)
        else:
            yield key, _show(default), _show(value), field_help(f)


def format_config_help(cfg: RunConfig, preset: str) -> str:
    """The table --help-config prints; a '*' marks a value that differs from the field's default."""
    rows = list(config_rows(cfg))
    width = max(len(key) for key, *_ in rows)
    value_width = min(24, max(len(v) for _, d, v, _ in rows for v in (d, v)))
    lines = [
        f"Config fields of the {preset} preset (key=value on the command line sets any of them):",
        f"  {'key':<{width}}  {'default':<{value_width}}  {'this run':<{value_width}}  help",
    ]
    for key, default, value, text in rows:
        mark = "*" if value != default else " "
        lines.append(f"{mark} {key:<{width}}  {default:<{value_width}}  {value:<{value_width}}  {text}")
    lines.append("* differs from the default (set by the preset, --config, a flag or key=value)")
    return "\n".join(lines)
