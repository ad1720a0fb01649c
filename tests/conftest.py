"""Test-session set-up shared by every test file."""

import os

# Before torch or numba start their OpenMP threads: passive waiting, so that a busy machine does not stall
# spinning threads (scripts/test.sh sets the same; this covers a bare `pytest`). See docs/benchmarks.md.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
