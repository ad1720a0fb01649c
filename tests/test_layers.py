"""The package layering: no import cycles (module-level or deferred imports alike), the trainers and data
code reach simulators only through envs' public API (envs.factory, envs.task, envs.config, ...), and
``common`` (user errors, config parsers) is the bottom floor: it imports no other package, and policies
take their config helpers from it, not from envs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "envs", "agents", "policies")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    assert _cycles(graph) == []


# The one program that joins two backends' internals: it writes the embedded buildings as Habitat scenes (a tool
# of the simulators, not a trainer or data code; it lives with the other programs to read configs/ like them).
SIMULATOR_TOOLS = {ROOT / "agents" / "commands" / "export_habitat_scenes.py"}


def test_agents_reach_simulators_only_through_the_envs_api():
    for path in set((ROOT / "agents").rglob("*.py")) - SIMULATOR_TOOLS:
        imported = {m for m in _imports(path) if m.startswith("envs.embedded") or m.startswith("envs.habitat")}
        assert not imported, f"{path.relative_to(ROOT)} imports {sorted(imported)}; use envs.factory"
        assert not re.search(r"backend\s*[!=]=\s*[\"'](embedded|habitat)", path.read_text()), path
        assert "Renderer(" not in path.read_text(), path


def test_common_is_the_bottom_floor():
    for path in (ROOT / "common").rglob("*.py"):
        above = {m for m in _imports(path) if m.split(".")[0] in PACKAGES and m.split(".")[0] != "common"}
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}; common must not import other packages"
    for name in (
        "ConfigError",
        "UserError",
        "check_choice",
        "check_range",
        "check_resolution",
        "coerce",
        "parse_section",
    ):
        assert any(name in path.read_text() for path in (ROOT / "common").glob("*.py")), name


def test_policies_take_config_helpers_from_common_not_envs():
    for path in (ROOT / "policies").rglob("*.py"):
        from_envs = {m for m in _imports(path) if m == "envs" or m.startswith("envs.")}
        assert not from_envs, f"{path.relative_to(ROOT)} imports {sorted(from_envs)}; config helpers are in common"
