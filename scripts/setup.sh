#!/usr/bin/env bash
# One-time set-up on a fresh machine: a venv in .venv with the CPU torch wheel first (an unpinned torch
# would pull a multi-GB CUDA build), then the toolkit, its test dependencies and the cluster extra (Ray). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,cluster]"   # cluster: Ray for sweeps, so their tests run too
echo "set-up done: activate with 'source .venv/bin/activate'"
