"""CPU thread counts that stick: torch and numba share one OpenMP runtime (libgomp).

When numba's OpenMP threading layer starts (the first parallel render) after torch has used its own thread
pool, libgomp's thread count goes back to numba's (all cores), and `torch.get_num_threads()` silently
follows: a `train.threads` set before the env existed did not hold (measured: 1 -> 2 on a 2-core machine).
`set_threads` starts both pools first and then sets both counts, after which they hold
(tests/test_threads.py runs renders and torch ops after it).
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(parallel=True, cache=True)
def _touch(x: np.ndarray) -> None:
    """A trivial parallel kernel: starts numba's threading layer."""
    for i in numba.prange(x.shape[0]):
        x[i] += 1.0


def start_thread_pools() -> None:
    """Start torch's and numba's thread pools (so neither resets the other's count later)."""
    torch.ones(8, 8) @ torch.ones(8, 8)
    _touch(np.zeros(4))


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads in torch and numba (None: keep torch's default); returns torch's count."""
    default = torch.get_num_threads()
    start_thread_pools()
    n = int(threads) if threads else default
    if n < 1:
        raise ValueError(f"threads={threads} must be >= 1 (or null for torch's default)")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(n)
    return torch.get_num_threads()
