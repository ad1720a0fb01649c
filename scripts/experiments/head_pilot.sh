#!/usr/bin/env bash
# The RGB-head pilot (docs/experiments.md, "Design"): which policy head lets a frozen pretrained base count at
# small N? For each head variant, behaviour cloning at N=49 of `features` with the pretrained curvature base and
# with a randomly initialised base of the same architecture, seeds 0-2, evaluated on the 420 held-out episodes.
# The variant with the largest features(curvature) - features(random) gap becomes the presets' head.
# Resumable: finished cells (results.json) are skipped. Run from the repository root:
#   nohup nice -n 10 bash scripts/experiments/head_pilot.sh > runs/head_pilot.log 2>&1 &
# Arguments are added to every cell (key=value overrides, or bc_grid.py flags such as --dry-run). The environment
# may set PILOT (the cells' folder under the runs root; default head_pilot), SEEDS (default "0 1 2") and
# RUNS_ROOT (default runs/); scripts/experiments/head_pilot_val.sh runs the same cells on the validation split.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
PY=${PYTHON:-.venv/bin/python}
PILOT=${PILOT:-head_pilot}
SEEDS=${SEEDS:-0 1 2}
ROOT_FLAG=()
if [ -n "${RUNS_ROOT:-}" ]; then ROOT_FLAG=(--runs-root "$RUNS_ROOT"); fi
declare -A VARIANTS=(
  [A-current]="policy.head_channels=32 policy.head_kernel=4 policy.head_stride=2 policy.tile_goal=false policy.map_channels=32 policy.fuse_dropout=0.0"
  [B-paper]="policy.head_channels=32 policy.head_kernel=3 policy.head_stride=1 policy.tile_goal=true policy.map_channels=32 policy.fuse_dropout=0.0"
  [C-narrow]="policy.head_channels=8 policy.head_kernel=4 policy.head_stride=2 policy.tile_goal=false policy.map_channels=8 policy.fuse_dropout=0.5"
)
COMMON="env.resolution=128 bc.epochs=60 bc.val_fraction=0 bc.patience=0 eval.episodes_per_building=30 env.episodes.per_building_heldout=30"
for seed in $SEEDS; do
  for variant in A-current B-paper C-narrow; do
    for base in curvature random; do
      # shellcheck disable=SC2086
      "$PY" scripts/experiments/bc_grid.py --experiment="$PILOT/$variant-$base" --methods=features --trajectories=49 \
        --seeds="$seed" "${ROOT_FLAG[@]}" policy.base="$base" $COMMON ${VARIANTS[$variant]} "$@"
    done
  done
done
