#!/usr/bin/env bash
# The test suite (fast tests only; benchmarks and experiments are scripts). Sets up first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
# torch's and numba's OpenMP threads spin while they wait; on a machine with any other load that stalls
# them (measured: a 1.4 s torch test took 46 s beside one busy process). Passive waiting costs nothing idle.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec .venv/bin/python -m pytest -q "$@"
