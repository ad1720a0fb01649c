#!/usr/bin/env bash
# The test suite (fast tests only; benchmarks and experiments are scripts). Sets up first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
