"""Egocentric observations computed from poses: the visited-locations map and the polar goal vector.

Both are derived from the backend's ground-truth poses. The paper's code built the map by dead reckoning
from the changes of the point-goal vector; with noiseless actions that gives the same map, so we read
the poses directly (one code path for every backend).

Agent frame: ``forward = (cos h, sin h)``, ``left = (-sin h, cos h)``. Map image: the agent sits at pixel
``(M // 2, M // 2)`` looking up; a point ``f`` metres ahead is ``round(f / cell)`` rows above the centre and
a point ``l`` metres to the left is ``round(l / cell)`` columns left of it.
"""

from __future__ import annotations

import numba
import numpy as np

MAP_BACKGROUND = 128
MAP_MARK = 255
VISITED_CHANNEL = 0
GOAL_CHANNEL = 1


@numba.njit(cache=True)
def _draw_maps(out, visited, counts, positions, headings, goals, cell):  # pragma: no cover - numba
    n_envs, _, size, _ = out.shape
    centre = size // 2
    out[:] = MAP_BACKGROUND
    for n in range(n_envs):
        ch = np.cos(headings[n])
        sh = np.sin(headings[n])
        px = positions[n, 0]
        py = positions[n, 1]
        for k in range(counts[n]):
            dx = visited[n, k, 0] - px
            dy = visited[n, k, 1] - py
            row = centre - int(np.floor((dx * ch + dy * sh) / cell + 0.5))
            col = centre - int(np.floor((-dx * sh + dy * ch) / cell + 0.5))
            if 0 <= row < size and 0 <= col < size:
                out[n, VISITED_CHANNEL, row, col] = MAP_MARK
        dx = goals[n, 0] - px
        dy = goals[n, 1] - py
        row = centre - int(np.floor((dx * ch + dy * sh) / cell + 0.5))
        col = centre - int(np.floor((-dx * sh + dy * ch) / cell + 0.5))
        if 0 <= row < size and 0 <= col < size:
            out[n, GOAL_CHANNEL, row, col] = MAP_MARK


def visited_maps(
    visited: np.ndarray,
    counts: np.ndarray,
    positions: np.ndarray,
    headings: np.ndarray,
    goals: np.ndarray,
    size: int,
    cell: float,
) -> np.ndarray:
    """Heading-up visited maps ``uint8[N, 3, size, size]`` (channel 0 visited, 1 goal, background 128).

    ``visited`` is ``float64[N, T, 2]`` of which the first ``counts[n]`` rows are env n's visited positions;
    only those points are transformed, so the cost grows with the path, not with the map area.
    """
    out = np.empty((len(positions), 3, size, size), dtype=np.uint8)
    _draw_maps(
        out,
        np.ascontiguousarray(visited, dtype=np.float64),
        np.ascontiguousarray(counts, dtype=np.int64),
        np.ascontiguousarray(positions, dtype=np.float64),
        np.ascontiguousarray(headings, dtype=np.float64),
        np.ascontiguousarray(goals, dtype=np.float64),
        float(cell),
    )
    return out


def goal_vectors(positions: np.ndarray, headings: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Polar goal in the agent frame as ``float32[N, 3] = [cos phi, sin phi, rho]``.

    ``phi`` is counter-clockwise from the heading (positive: goal to the left), ``rho`` the euclidean
    distance in metres, like Habitat's PointGoal sensor with polar coordinates.
    """
    delta = goals - positions
    ch, sh = np.cos(headings), np.sin(headings)
    forward = delta[:, 0] * ch + delta[:, 1] * sh
    left = -delta[:, 0] * sh + delta[:, 1] * ch
    phi = np.arctan2(left, forward)
    rho = np.hypot(forward, left)
    return np.stack([np.cos(phi), np.sin(phi), rho], axis=1).astype(np.float32)
