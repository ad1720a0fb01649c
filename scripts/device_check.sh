#!/usr/bin/env bash
# The GPU path in one command (about 8-12 minutes on one GPU): CUDA renderer agreement test, env and encoder
# benchmarks on CUDA, the device-resident rollout (CPU preset on CUDA), a short run of the GPU preset
# (configs/ppo_gpu.yaml, CUDA renderer, device-resident with its 4 frames stacked on the GPU); prints trained
# frames/s and writes a report under $OUT (default ./device_report). Needs a Python with a CUDA build of torch and
# this package installed (PYTHON, default .venv/bin/python). Never run on the machines this toolkit was developed on
# (no GPU there): see docs/benchmarks.md, "GPU path".
#   bash scripts/device_check.sh                  # OUT=./device_report
#   OUT=/tmp/report PYTHON=python3 bash scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-./device_report}"
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$OUT"
REPORT="$OUT/report.md"
status=0

step() {  # step NAME SECONDS COMMAND...: run with a time limit, keep its output, note the outcome
  local name="$1" limit="$2"; shift 2
  echo "== $name (limit ${limit}s): $*" | tee -a "$REPORT"
  local start=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$OUT/$name.log"
  echo "-- $name: exit $rc after $((SECONDS - start)) s (full log: $OUT/$name.log)" | tee -a "$REPORT"
  [ $rc -eq 0 ] || status=1
}

trained_fps() {  # trained_fps LABEL RESULTS_JSON: the run's trained frames/s (results.json schema 2: under "training")
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
results = json.load(open(path))
training = results.get("training", results)  # schema 1 kept these at the top level
print(f"{label}: {training['frames_per_second']} trained frames/s over {training['frames_this_session']} frames")
PY
}

{
  echo "# device check, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "nvidia-smi: not found"
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  echo '```'
} > "$REPORT"
cat "$REPORT"
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device visible to $PYTHON: nothing to check" | tee -a "$REPORT"
  exit 2
fi

export OMP_WAIT_POLICY=PASSIVE
step renderer_agreement 120 "$PYTHON" -m pytest -q tests/test_renderer.py -k cuda
step device_resident_rollout 180 "$PYTHON" -m pytest -q tests/test_rollout_buffer.py -k device_resident
step bench_env 120 "$PYTHON" scripts/bench_env.py --devices cpu cuda --batches 32 128 --resolutions 128 --seconds 0.5
step bench_encoders 120 "$PYTHON" scripts/bench_policies.py --device cuda --batch 128 --repeats 2 --min-seconds 0.5 \
  --archs taskonomy compact --sizes 256 --methods features finetune sidetune

# The device-resident rollout (frames stay on the GPU from the CUDA renderer to the rollout buffer): the CPU preset
# (configs/ppo.yaml: compact base, 128², one frame) on CUDA with the CUDA renderer, 6 rollouts of 1,024 frames.
step ppo_cpu_preset_device_resident 240 "$PYTHON" scripts/train_ppo.py --device cuda --no-progress \
  env.render_device=cuda ppo.total_frames=6144 train.eval_every=0 train.eval_at_start=false train.final_eval=false \
  train.checkpoint_every=0 "run.runs_root=$OUT/runs" run.experiment=ppo_device
grep -h "device-resident rollout" "$OUT/ppo_cpu_preset_device_resident.log" | tee -a "$REPORT"
RESULTS=$(ls -t "$OUT"/runs/ppo_device/*/results.json 2>/dev/null | head -1)
if [ -n "$RESULTS" ]; then
  trained_fps "CPU preset on CUDA, device-resident" "$RESULTS" | tee -a "$REPORT"
fi

# The GPU preset, 3 rollouts of 2,560 frames, no evaluation. The official curvature encoder if torch's hub
# cache has it (this machine may be offline), else an untrained base of the same architecture: same cost.
BASE=random
if "$PYTHON" -c "from policies.bases import official_weights; official_weights('curvature', download=False)" > /dev/null 2>&1; then BASE=curvature; fi
echo "GPU preset base: $BASE" | tee -a "$REPORT"
step ppo_gpu_preset 240 "$PYTHON" scripts/train_ppo.py --config configs/ppo_gpu.yaml --base "$BASE" --no-progress \
  env.render_device=cuda ppo.total_frames=7680 train.eval_every=0 train.eval_at_start=false train.final_eval=false \
  train.checkpoint_every=0 "run.runs_root=$OUT/runs"
grep -h "device-resident rollout" "$OUT/ppo_gpu_preset.log" | tee -a "$REPORT"
RESULTS=$(ls -t "$OUT"/runs/ppo_gpu/*/results.json 2>/dev/null | head -1)
if [ -n "$RESULTS" ]; then
  trained_fps "GPU preset" "$RESULTS" | tee -a "$REPORT"
fi
echo "report: $REPORT (exit $status)"
exit $status
