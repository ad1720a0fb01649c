#!/usr/bin/env bash
# Lint and format check (ruff, configured in pyproject.toml): what CI runs before the tests. `ruff format .` and
# `ruff check --fix .` repair most findings.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
