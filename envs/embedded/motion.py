"""Agent motion with collisions: forward moves that slide along walls, and turns.

The agent is a cylinder; its radius is baked into the navigable grid (``navigation.navigable_grid``), so
the agent's centre must stay in navigable cells. A forward move is taken in sub-steps of at most half a
cell (so it cannot tunnel through a thin obstacle); a blocked sub-step tries its x and y components alone
(sliding along the wall) and the agent is reported as collided.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def _free(nav, x, y, cell):  # pragma: no cover - numba
    h, w = nav.shape
    i = int(math.floor(y / cell))
    j = int(math.floor(x / cell))
    return 0 <= i < h and 0 <= j < w and nav[i, j]


@numba.njit(cache=True)
def move_forward_batch(navs, nav_index, positions, headings, mask, step, cell, collided):  # pragma: no cover
    """Move agents with ``mask[n]`` forward by ``step`` metres in place; ``collided[n]`` says if blocked.

    ``navs`` is a padded stack ``bool[B, H, W]`` of navigable grids, ``nav_index[n]`` the agent's building.
    """
    n_sub = int(math.ceil(step / (0.5 * cell)))
    for n in range(positions.shape[0]):
        collided[n] = False
        if not mask[n]:
            continue
        nav = navs[nav_index[n]]
        dx = step / n_sub * math.cos(headings[n])
        dy = step / n_sub * math.sin(headings[n])
        x, y = positions[n, 0], positions[n, 1]
        for _ in range(n_sub):
            if _free(nav, x + dx, y + dy, cell):
                x += dx
                y += dy
                continue
            collided[n] = True
            if abs(dx) > 1e-9 and _free(nav, x + dx, y, cell):
                x += dx
            elif abs(dy) > 1e-9 and _free(nav, x, y + dy, cell):
                y += dy
            else:
                break
        positions[n, 0], positions[n, 1] = x, y


def turn(headings: np.ndarray, direction: np.ndarray, angle: float) -> None:
    """Rotate headings in place by ``direction * angle`` (direction +1 left, -1 right, 0 none), kept in (-pi, pi]."""
    h = headings + direction * angle
    headings[:] = np.arctan2(np.sin(h), np.cos(h))
