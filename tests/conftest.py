"""Test-session set-up shared by every test file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before torch or numba start their OpenMP threads: passive waiting, so that a busy machine does not stall
# spinning threads (scripts/test.sh sets the same; this covers a bare `pytest`). See docs/benchmarks.md.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The slowest test files, slowest first (seconds in one pytest-xdist worker, 2-core AVX2 EPYC, idle, 2026-12-02).
# scripts/test.sh runs the files whole in two workers (--dist loadfile) in collection order
# (--no-loadscope-reorder), so these start first and the short files fill in behind them. xdist's own order (most
# tests first) left the two habitat-baselines runs (156 s) to the end on one worker while the other sat idle:
# 616 against 466 s of work.
SLOW_FILES_FIRST = (
    "test_experiment_report.py",  # 233 s
    "test_habitat_baselines_plugin.py",  # 156
    "test_sweep.py",  # 125
    "test_cli_errors.py",  # 115
    "test_bc.py",  # 84
    "test_habitat_sim.py",  # 60
    "test_distributed.py",  # 44
    "test_backend_contract.py",  # 37
    "test_ppo.py",  # 32
    "test_habitat_lab.py",  # 23
    "test_rollout_buffer.py",  # 22
    "test_threads.py",  # 19
    "test_evaluate.py",  # 16
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slowest files first (SLOW_FILES_FIRST), every other file after them in collection order; the order
    of the tests within a file is kept."""
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.path)).name, len(rank)))
