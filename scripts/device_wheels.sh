#!/usr/bin/env bash
# The wheelhouse for a bare GPU machine (Python 3.12, its own CUDA torch, no network): the Python 3.12
# manylinux/pure-Python wheels of what the toolkit imports and such a machine lacks, in one git-ignored folder
# (device_wheels/, about 1 MB) that travels with the code. scripts/device_check.sh installs them with
# `pip install --no-index --no-deps`, over the machine's own torch. Never torch: the GPU machine brings its own.
# The versions are the ones the toolkit is tested with. Run where the package index is reachable:
#   bash scripts/device_wheels.sh                         # -> device_wheels/
#   WHEELS_DIR=/tmp/wheels bash scripts/device_wheels.sh  # elsewhere
# Exit status: 0 done, 3 the index could not be reached (nothing else is wrong), 1 anything else.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS_DIR="${WHEELS_DIR:-device_wheels}"
INDEX_URL="${INDEX_URL:-https://pypi.org/simple}"
PY="${PYTHON:-python3}"
# What the check's import chain needs beyond what the GPU machines hold (numpy, numba, pyyaml, cloudpickle,
# typing-extensions, tensorboard, tqdm, matplotlib, opencv-python-headless, scipy, pytest come with them):
# stable-baselines3 needs gymnasium (+ farama-notifications); omegaconf needs antlr4-python3-runtime 4.9.
WHEELS=("gymnasium==1.4.0" "stable-baselines3==2.9.2" "farama-notifications==0.0.6" "omegaconf==2.3.1")
SDISTS=("antlr4-python3-runtime==4.9.3")  # published as a source archive only: built here into a py3 wheel

# --isolated: ignore this machine's pip config and PIP_* variables (local indexes, constraints, find-links), so the
# wheels come from INDEX_URL alone
PIP=("$PY" -m pip --isolated --disable-pip-version-check)
host=$(printf '%s' "$INDEX_URL" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
if ! "$PY" - "${INDEX_URL%/}/gymnasium/" <<'PY' 2>/dev/null; then  # one project's page, not the whole index
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=15).close()
PY
    echo "error: $host: the package index is unreachable (run where $INDEX_URL is reachable, or set INDEX_URL)" >&2
    exit 3
fi
mkdir -p "$WHEELS_DIR"
rm -f "$WHEELS_DIR"/*.whl  # one version of each: two would stop the install there
"${PIP[@]}" download -q --no-deps --only-binary=:all: --index-url "$INDEX_URL" --python-version 3.12 \
    --implementation cp --abi cp312 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d "$WHEELS_DIR" "${WHEELS[@]}" || exit 1
"${PIP[@]}" wheel -q --no-deps --index-url "$INDEX_URL" -w "$WHEELS_DIR" "${SDISTS[@]}" || exit 1
rm -f "$WHEELS_DIR"/*.tar.gz
n=$(ls "$WHEELS_DIR"/*.whl | wc -l)
if [ "$n" -ne $((${#WHEELS[@]} + ${#SDISTS[@]})) ]; then
    echo "error: $WHEELS_DIR: $n wheels for $((${#WHEELS[@]} + ${#SDISTS[@]})) packages (remove it and run again)" >&2
    exit 1
fi
ls -1 "$WHEELS_DIR"
echo "$WHEELS_DIR: $n wheels, $(du -sh "$WHEELS_DIR" | cut -f1)"
