"""Test-session set-up shared by every test file."""

import os

# Before torch or numba start their OpenMP threads: passive waiting, so that a busy machine does not stall
# spinning threads (scripts/test.sh sets the same; this covers a bare `pytest`). See docs/benchmarks.md.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_collection_modifyitems(config, items) -> None:
    """For pytest-xdist's ``--dist loadgroup`` (scripts/test.sh): a test that uses a module-, class- or
    session-scoped fixture of ours runs in the worker that has the rest of its module (the fixture is built once
    per worker that needs it: the bad-input cases, the BC pools, the Habitat exports); every other test is handed
    out on its own, so long modules of independent tests (the experiment report's) spread over both workers."""
    import pytest

    if not config.pluginmanager.hasplugin("xdist"):
        return  # its marker is unknown without it
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        if any(d.scope != "function" and d.baseid for defs in info.name2fixturedefs.values() for d in defs):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
