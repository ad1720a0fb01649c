"""Test-session set-up shared by every test file."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before torch or numba start their OpenMP threads: passive waiting, so that a busy machine does not stall
# spinning threads (scripts/test.sh sets the same; this covers a bare `pytest`). See docs/benchmarks.md.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# SB3 PPO models a test builds itself (not through agents.run.model_builder, which silences their logger) make a
# logger folder on their first learn: in this session's own temp folder, removed when the session ends, instead of
# a SB3-<time> folder per model in the system's temp directory.
if "SB3_LOGDIR" not in os.environ:
    os.environ["SB3_LOGDIR"] = tempfile.mkdtemp(prefix="sidetune-tests-sb3-")
    atexit.register(shutil.rmtree, os.environ["SB3_LOGDIR"], True)

# The slowest test files, slowest first: seconds of work in the suite's two pytest-xdist workers, measured with this
# order (2-core AVX2 EPYC, idle otherwise, 2026-12-02; the files that run side by side slow each other). Run by
# scripts/test.sh whole in two workers (--dist loadfile) in collection order (--no-loadscope-reorder), these start
# first and the short files fill in behind them. xdist's own order (most tests first) leaves the two
# habitat-baselines runs to the end on one worker while the other sits idle: 616 against 466 s of work, 636 s wall;
# in this order 1,004 s of work took 524 s.
SLOW_FILES_FIRST = (
    "test_habitat_baselines_plugin.py",  # 199 s
    "test_experiment_report.py",  # 168
    "test_sweep.py",  # 145
    "test_cli_errors.py",  # 98
    "test_bc.py",  # 86
    "test_gpu_presets_on_cpu.py",  # 62 (2026-12-06, under load)
    "test_device_check.py",  # 63 (2026-12-06, under load; builds the wheelhouse from PyPI)
    "test_distributed.py",  # 42
    "test_habitat_sim.py",  # 38
    "test_backend_contract.py",  # 33
    "test_ppo.py",  # 30
    "test_habitat_lab.py",  # 27
    "test_threads.py",  # 21
    "test_rollout_buffer.py",  # 21
    "test_evaluate.py",  # 18
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slowest files first (SLOW_FILES_FIRST), every other file after them in collection order; the order
    of the tests within a file is kept."""
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.path)).name, len(rank)))
