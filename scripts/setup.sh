#!/usr/bin/env bash
# One-time set-up on a fresh machine: a venv in .venv with the CPU torch wheel first (an unpinned torch
# would pull a multi-GB CUDA build), then the toolkit, its test dependencies and the cluster extra (Ray). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
# habitat-baselines imports torchvision, whose PyPI wheels are CUDA builds that cannot load beside .venv's CPU torch.
# .venv-baselines holds PyPI's torch 2.13.0 (a CUDA build; it runs on CPUs too) and torchvision 0.28.0 and sees
# everything else in .venv (site.addsitedir in a .pth file); only the habitat-baselines plugin runs in it.
# --isolated: this machine's pip config points at a local CPU torch wheel, which would win over PyPI's. triton
# (torch's GPU compiler) carries its own LLVM; loaded beside numba's and Mesa llvmpipe's it aborts the simulator's
# process ("LLVM ERROR: Option 'default' already exists!"), and torch runs without it.
make_baselines_venv() {
    [ -x .venv-baselines/bin/python ] || "$PY" -m venv .venv-baselines || return 1
    .venv-baselines/bin/python -m pip --isolated install -q "torch==2.13.0" "torchvision==0.28.0" || return 1
    .venv-baselines/bin/python -m pip --isolated uninstall -q -y triton || return 1
    local base overlay
    base=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
    overlay=$(.venv-baselines/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
    echo "import site; site.addsitedir('$(realpath "$base")')" > "$overlay/sidetune_nav_base_venv.pth"
}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
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
    # Optional: a failed download (4 GB from PyPI) leaves the toolkit installed and the plugin tests skipping, with why.
    if ! make_baselines_venv; then
        rm -rf .venv-baselines
        echo "warning: .venv-baselines could not be made; tests/test_habitat_baselines_plugin.py will skip" >&2
    fi
fi
echo "set-up done: activate with 'source .venv/bin/activate'"
