#!/usr/bin/env bash
# The head pilot re-checked on the validation buildings (docs/experiments.md, "Design"): the same 18 cells as
# scripts/experiments/head_pilot.sh (3 heads x curvature / random base x seeds 0-2, BC at N=49 of `features`),
# trained on split train_fit (the training buildings without the validation ones) and evaluated on split
# train_val (the last env.num_val_buildings=8 training buildings, 30 episodes each), into runs/head_pilot_val/.
# Does the head chosen on the held-out episodes also win here? Resumable: finished cells are skipped.
#   nohup nice -n 10 bash scripts/experiments/head_pilot_val.sh > runs/head_pilot_val.log 2>&1 &
#   .venv/bin/python scripts/experiments/head_pilot_report.py --pilot runs/head_pilot_val --split train_val
# Arguments and the SEEDS / RUNS_ROOT variables work as in head_pilot.sh (e.g. --dry-run lists the cells).
set -euo pipefail
PILOT=${PILOT:-head_pilot_val} exec bash "$(dirname "$0")/head_pilot.sh" env.split=train_fit eval.split=train_val "$@"
