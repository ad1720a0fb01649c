#!/usr/bin/env bash
# The GPU path in one command of at most 9 minutes, most important first: the GPU preset's trained frames/s
# (configs/ppo_gpu.yaml: ResNet-50 base at 256², 4 frames stacked on the GPU), the CPU preset on CUDA with the
# device-resident rollout, the CUDA tests, then the env and encoder benchmarks. Each step runs under `timeout -k`;
# the limits and kill graces add up to 530 s. Run folders go under /tmp; the report (report.md), the logs and
# both runs' results (results.json) go to $OUT (default ./device_report), 8 files at most, none in subfolders.
#
# Set-up: PYTHON (default .venv/bin/python where it exists, else python3) must have torch. What the toolkit
# imports and a bare GPU machine lacks (gymnasium, stable-baselines3, omegaconf, ...) is installed from the
# wheelhouse that scripts/device_wheels.sh builds (WHEELS_DIR, default device_wheels/) with --no-index --no-deps
# into a folder under /tmp put first on PYTHONPATH: the interpreter's own torch and packages are never replaced.
# Without a CUDA device every CUDA step says "no CUDA device" in one line and the script finishes.
#   bash scripts/device_wheels.sh                                  # once, where PyPI is reachable
#   OUT=/tmp/report PYTHON=python3 bash scripts/device_check.sh    # on the GPU machine (docs/gpu.md)
# TMPDIR (default /tmp) holds the run folders and the installed wheels.
# Exit status: 0 every step that ran passed, 1 a step failed or timed out, 2 the set-up failed (one line says why).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-device_report}"
WHEELS_DIR="${WHEELS_DIR:-device_wheels}"
if [ -n "${PYTHON:-}" ]; then
    if ! command -v "$PYTHON" > /dev/null 2>&1; then
        echo "error: PYTHON: $PYTHON is not an executable (set PYTHON to a Python that has torch, e.g. PYTHON=python3)" >&2
        exit 2
    fi
elif [ -x .venv/bin/python ]; then
    PYTHON=.venv/bin/python
else
    PYTHON=python3
fi
if ! "$PYTHON" -c "import torch" > /dev/null 2>&1; then
    echo "error: PYTHON: $PYTHON cannot import torch (set PYTHON to a Python with a CUDA build of torch)" >&2
    exit 2
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sidetune-device.XXXXXX")  # run folders and the installed wheels; ResNet-50 checkpoints are large
SITE="$WORK/site"
RUNS="$WORK/runs"
mkdir -p "$OUT"
REPORT="$OUT/report.md"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" PYTHONUNBUFFERED=1
GRACE=5  # seconds between a step's SIGTERM and SIGKILL
budget=0 failed=0 passed=0 skipped=0

# ---- set-up: the toolkit's imports, from the wheelhouse where the interpreter lacks them
SETUP_LIMIT=30
budget=$((budget + SETUP_LIMIT + GRACE))
NEEDED="import gymnasium, stable_baselines3, omegaconf"
WHEELS=(gymnasium stable-baselines3 farama-notifications omegaconf antlr4-python3-runtime)
{
    echo "python: $PYTHON"
    if "$PYTHON" -c "$NEEDED" 2> /dev/null; then
        echo "gymnasium, stable-baselines3, omegaconf: present, not installed"
    elif ls "$WHEELS_DIR"/*.whl > /dev/null 2>&1; then
        echo "installing from $WHEELS_DIR (--no-index --no-deps) into $SITE"
        timeout -k "$GRACE" "$SETUP_LIMIT" "$PYTHON" -m pip install -q --disable-pip-version-check --no-index \
            --no-deps --no-compile --no-cache-dir --find-links "$WHEELS_DIR" --target "$SITE" "${WHEELS[@]}"
    else
        echo "no wheelhouse at $WHEELS_DIR"
    fi
} > "$OUT/setup.log" 2>&1
[ -d "$SITE" ] && export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "$NEEDED; import agents.trainers.ppo, agents.trainers.bc" >> "$OUT/setup.log" 2>&1; then
    echo "error: $WHEELS_DIR: the toolkit does not import with $PYTHON (bash scripts/device_wheels.sh where PyPI is reachable, carry $WHEELS_DIR; see $OUT/setup.log)" >&2
    exit 2
fi
VERSIONS=$("$PYTHON" - <<'PY'
import importlib.metadata as m, platform, torch
names = ["numpy", "numba", "gymnasium", "stable-baselines3", "omegaconf"]
print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA build {torch.version.cuda}), "
      + ", ".join(f"{n} {m.version(n)}" for n in names))
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}, "
          f"{p.multi_processor_count} SMs; cuDNN {torch.backends.cudnn.version()}")
else:
    print("GPU: no CUDA device")
PY
) || { echo "error: PYTHON: $PYTHON could not report its package versions (see the lines above)" >&2; exit 2; }
CUDA=1
case "$VERSIONS" in *"GPU: no CUDA device"*) CUDA=0 ;; esac
{
    echo "# device check, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo '```'
    echo "$VERSIONS"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2> /dev/null || echo "nvidia-smi: not found"
    echo '```'
    echo
} > "$REPORT"
cat "$REPORT"

step() {  # step NAME LIMIT COMMAND...: a CUDA step under `timeout -k`, its output in $OUT/NAME.log, one line on it
    local name="$1" limit="$2"
    shift 2
    budget=$((budget + limit + GRACE))
    if [ "$CUDA" -eq 0 ]; then
        echo "- $name: no CUDA device" | tee -a "$REPORT"
        skipped=$((skipped + 1))
        return
    fi
    echo "== $name (limit ${limit}s): $*"
    local start=$SECONDS rc
    timeout -k "$GRACE" "$limit" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    tail -n 25 "$OUT/$name.log"
    local outcome="passed"
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then outcome="timed out (limit ${limit}s)"; elif [ $rc -ne 0 ]; then outcome="failed (exit $rc)"; fi
    echo "- $name: $outcome after $((SECONDS - start)) s ($name.log)" | tee -a "$REPORT"
    if [ "$outcome" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

run_figures() {  # run_figures LABEL EXPERIMENT LOG: the device-resident line and trained frames/s of a run
    [ "$CUDA" -eq 1 ] || return 0
    grep -h "device-resident rollout" "$OUT/$3.log" 2> /dev/null | sed 's/^/  /' | tee -a "$REPORT"
    "$PYTHON" - "$1" "$RUNS/$2" <<'PY' | tee -a "$REPORT"
import json, sys
from pathlib import Path
label, root = sys.argv[1], Path(sys.argv[2])
found = sorted(root.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
if not found:
    print(f"  {label}: no results.json")
    sys.exit(0)
results = json.loads(found[-1].read_text())
t = results["training"]
print(f"  {label}: {t['frames_per_second']} trained frames/s over {t['frames_this_session']} frames "
      f"({t['wall_seconds_this_session']} s); numerics {json.dumps(results.get('numerics'))}")
PY
}

# 1. The GPU preset (10 rollouts of 2,560 frames at most, stopped after 1.5 min of training so that results.json is
# written inside the limit). The official curvature encoder if torch's hub cache has it (the GPU machine is
# offline), else an untrained base of the same architecture: the same cost.
BASE=random
if [ "$CUDA" -eq 1 ] && "$PYTHON" -c "from policies.bases import official_weights; official_weights('curvature', download=False)" > /dev/null 2>&1; then BASE=curvature; fi
[ "$CUDA" -eq 1 ] && echo "GPU preset base: $BASE" | tee -a "$REPORT"
COMMON=(--no-progress train.eval_every=0 train.eval_at_start=false train.final_eval=false train.checkpoint_every=0
    "run.runs_root=$RUNS")
step ppo_gpu_preset 150 "$PYTHON" scripts/train_ppo.py --config configs/ppo_gpu.yaml --base "$BASE" "${COMMON[@]}" \
    ppo.total_frames=25600 train.max_minutes=1.5 run.experiment=ppo_gpu
run_figures "GPU preset" ppo_gpu ppo_gpu_preset

# 2. The device-resident rollout (frames stay on the GPU from the CUDA renderer to the rollout buffer): the CPU
# preset (configs/ppo.yaml: compact base, 128², one frame) on CUDA, 1,024-frame rollouts for 1 min at most.
step ppo_cpu_preset_device_resident 95 "$PYTHON" scripts/train_ppo.py --device cuda "${COMMON[@]}" \
    env.render_device=cuda ppo.total_frames=65536 train.max_minutes=1 run.experiment=ppo_device
run_figures "CPU preset on CUDA, device-resident" ppo_device ppo_cpu_preset_device_resident

# 3. The CUDA tests: the CUDA renderer against numba, the device-resident rollout on CUDA against the host path.
step cuda_tests 115 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_renderer.py tests/test_rollout_buffer.py \
    -k cuda

# 4. The benchmarks: env steps/s (numba CPU and CUDA renderers), encoder forward/backward on CUDA.
step bench_env 55 "$PYTHON" scripts/bench_env.py --devices cpu cuda --batches 32 128 --resolutions 128 --seconds 0.4
step bench_encoders 55 "$PYTHON" scripts/bench_policies.py --device cuda --batch 128 --repeats 2 --min-seconds 0.4 \
    --archs taskonomy compact --sizes 256 --methods features finetune sidetune

if [ "$CUDA" -eq 1 ]; then  # both runs' results.json in one file (run folders hold ~100 MB checkpoints: not copied)
    "$PYTHON" - "$RUNS" "$OUT/results.json" <<'PY'
import json, sys
from pathlib import Path
runs = Path(sys.argv[1])
merged = {str(p.relative_to(runs).parent): json.loads(p.read_text()) for p in sorted(runs.glob("*/*/results.json"))}
Path(sys.argv[2]).write_text(json.dumps(merged, indent=1) + "\n")
PY
fi
summary="device check: $passed passed, $failed failed, $skipped skipped (no CUDA device); step limits and kill graces add up to ${budget} s"
[ "$CUDA" -eq 1 ] || summary="$summary; no CUDA device: nothing was measured"
{ echo; echo "$summary"; } >> "$REPORT"
echo "$summary"
echo "report: $REPORT; run folders: $RUNS"
[ "$failed" -eq 0 ]
