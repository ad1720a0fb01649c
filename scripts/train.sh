#!/usr/bin/env bash
# The main job: set up once if needed, then PPO on the embedded simulator (python scripts/train_ppo.py "$@").
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec .venv/bin/python scripts/train_ppo.py "$@"
