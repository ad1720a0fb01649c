#!/usr/bin/env bash
# The imitation grid of docs/experiments.md (paper Fig. 3c): sweeps/imitation.yaml, 108 cells.
# First the expert pool for the largest N, in one process, so that parallel cells never extend it at the same
# time; then the sweep (finished cells are skipped, interrupted ones resumed), which ends by writing
# runs/imitation/sweep.md and report.md (paired comparisons, alpha, Fig. 3c). Run from the repository root:
#   nohup nice -n 10 bash scripts/experiments/imitation.sh > runs/imitation.log 2>&1 &
# Extra arguments go to the sweep, e.g. --deadline 19:00 (UTC; no cell starts after it).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
PY=${PYTHON:-.venv/bin/python}
"$PY" scripts/make_trajectories.py --trajectories 4900 --no-progress
"$PY" scripts/sweep.py sweeps/imitation.yaml --no-progress "$@"
