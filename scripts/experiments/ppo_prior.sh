#!/usr/bin/env bash
# PPO of docs/experiments.md (paper Fig. 3d): sweeps/ppo_prior.yaml, 12 cells (4 policies x 3 seeds at the same
# frames). Finished cells are skipped, interrupted ones resume from their last checkpoint; the sweep ends by
# writing runs/ppo_prior/sweep.md, report.md and the plots, also when a --deadline leaves cells. Run from the root:
#   nohup nice -n 10 bash scripts/experiments/ppo_prior.sh > runs/ppo_prior.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
PY=${PYTHON:-.venv/bin/python}
"$PY" scripts/sweep.py sweeps/ppo_prior.yaml --no-progress "$@"
