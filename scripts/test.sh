#!/usr/bin/env bash
# The test suite (fast tests only; benchmarks and experiments are scripts). Sets up first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
# torch's and numba's OpenMP threads spin while they wait; on a machine with any other load that stalls
# them (measured: a 1.4 s torch test took 46 s beside one busy process). Passive waiting costs nothing idle.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
# Two test processes (pytest-xdist): the suite's subprocesses, imports and single-threaded work overlap on the
# 2-core CI machine. --dist loadfile: each test file runs whole in one worker, so a module's fixtures are built
# once (with per-test scheduling the distributed and Habitat fixtures were built in both). --no-loadscope-reorder:
# the files start in collection order, slowest first (tests/conftest.py), instead of xdist's most-tests-first.
# PYTEST_WORKERS=0: one process, serially.
XDIST_OK='import importlib.metadata as m, sys; v = m.version("pytest-xdist").split("."); sys.exit(0 if (int(v[0]), int(v[1])) >= (3, 8) else 1)'
if .venv/bin/python -c "$XDIST_OK" 2>/dev/null; then
    exec .venv/bin/python -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
fi
echo "pytest-xdist >= 3.8 is not installed (bash scripts/setup.sh, or pip install 'pytest-xdist>=3.8'): running the tests serially" >&2
exec .venv/bin/python -m pytest -q "$@"
