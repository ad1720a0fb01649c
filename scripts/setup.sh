#!/usr/bin/env bash
# One-time set-up on a fresh machine: one venv, .venv, for the toolkit, its tests, the cluster extra (Ray) and, when
# the habitat-sim wheel is there, habitat-sim, habitat-lab and habitat-baselines. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then  # a Python the user named is used or refused, never silently replaced
    PY=$PYTHON
    command -v "$PY" >/dev/null 2>&1 || { echo "error: PYTHON: $PY is not an executable (set PYTHON to a Python 3.11, or unset it to use python3.11)" >&2; exit 2; }
else
    PY=python3.11
    command -v "$PY" >/dev/null 2>&1 || PY=python3
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch and torchvision first, pinned as a pair: PyPI's builds (CUDA on Linux; they run on CPUs too). A torchvision
# needs the torch it was built against (beside another, `import torchvision` fails), and habitat-baselines imports it.
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[dev,cluster]"   # cluster: Ray for sweeps, so their tests run too
# habitat-sim from a locally built CPU wheel when one sits in ../shared/wheels (CI, the development machines):
# --no-deps because its metadata pins numpy==1.26.4 / pillow==10.4.0, which would downgrade the toolkit's;
# what it imports comes from the habitat extra. Without the wheel the Habitat tests skip and say why.
HABITAT_WHEEL=$(ls ../shared/wheels/habitat_sim-0.3.3-*.whl 2>/dev/null | head -n 1 || true)
if [ -n "$HABITAT_WHEEL" ]; then
    .venv/bin/python -m pip install -q -e ".[dev,habitat,baselines,cluster]"  # baselines: habitat-baselines' imports
    .venv/bin/python -m pip install -q --no-deps "$HABITAT_WHEEL"
    # habitat-lab from PyPI for users' own PointNav on exported scenes (tests/test_habitat_lab.py); --no-deps: its
    # metadata pins numpy==1.26.4, yet it runs with numpy 2 (what it imports comes from the habitat extra)
    .venv/bin/python -m pip install -q --no-deps "habitat-lab==0.3.320260507" "gym==0.23.0"  # gym: see pyproject.toml
    # habitat-baselines (its PPO/DD-PPO with the toolkit's policy: sidetune_habitat_baselines, tests/
    # test_habitat_baselines_plugin.py), --no-deps for the same reason
    .venv/bin/python -m pip install -q --no-deps "habitat-baselines==0.3.320260507"
fi
# triton (torch's GPU compiler, 0.9 GB) carries its own LLVM, which aborts habitat-baselines' simulator processes
# beside numba's and llvmpipe's ("LLVM ERROR: Option 'default' already exists!"); nothing here needs it (docs/gpu.md).
if .venv/bin/python -m pip show -q triton >/dev/null 2>&1; then .venv/bin/python -m pip uninstall -q -y triton; fi
if [ -d .venv-baselines ]; then  # left alone: a process may still run in it
    echo "note: .venv-baselines is not used any more (habitat-baselines runs in .venv); delete it to free ~4 GB" >&2
fi
echo "set-up done: activate with 'source .venv/bin/activate'"
