"""Navigable grid, geodesic fields against reference shortest paths, motion with collisions, field cache."""

import heapq
import math

import numpy as np
import pytest

from envs.embedded.motion import move_forward_batch, turn
from envs.embedded.navigation import FieldCache, NavGrid, distance_field, navigable_grid
from envs.embedded.world import Building


def _building(walls: np.ndarray, pillars=()) -> Building:
    return Building(
        "t",
        0,
        0.1,
        walls.astype(np.uint8),
        np.asarray(pillars, np.float32).reshape(-1, 4),
        np.zeros((3, 4, 4, 3), np.uint8),
        0,
        1,
    )


def _room(h=60, w=60):
    walls = np.zeros((h, w), np.uint8)
    walls[0], walls[-1], walls[:, 0], walls[:, -1] = 2, 2, 2, 2
    return walls


def _dijkstra8(nav, goal_ij):
    """Reference 8-neighbour Dijkstra (no corner cutting), in cells."""
    dist = np.full(nav.shape, np.inf)
    dist[goal_ij] = 0
    heap = [(0.0, goal_ij)]
    while heap:
        d, (i, j) = heapq.heappop(heap)
        if d > dist[i, j]:
            continue
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ni, nj = i + di, j + dj
                if (di or dj) and nav[ni, nj] and nav[i + di, j] and nav[i, j + dj]:
                    nd = d + math.hypot(di, dj)
                    if nd < dist[ni, nj]:
                        dist[ni, nj] = nd
                        heapq.heappush(heap, (nd, (ni, nj)))
    return dist


def test_navigable_grid_keeps_agent_radius_from_walls_and_pillars():
    nav = navigable_grid(_building(_room(), [(3.0, 3.0, 0.5, 2)]), 0.15)
    assert not nav.is_navigable(0.24, 3.0)  # the wall face is at x=0.1: 0.14 m away
    assert nav.is_navigable(0.31, 3.0)
    assert not nav.is_navigable(3.0 + 0.64, 3.0)  # inside pillar radius + agent radius
    assert nav.is_navigable(3.0 + 0.76, 3.0)


def test_open_room_field_is_euclidean_within_16_neighbour_error():
    nav = navigable_grid(_building(_room()), 0.15)
    field = distance_field(nav, (1.03, 1.07))
    for x, y in [(5.0, 5.0), (4.4, 1.2), (1.5, 5.2), (1.1, 1.1)]:
        assert field.at(x, y) == pytest.approx(
            math.dist((x, y), (1.03, 1.07)), rel=0.028, abs=0.01
        )  # 16-neighbour worst case 2.7 %


def test_field_around_a_wall_matches_the_shortest_path_and_beats_8_neighbours():
    walls = _room()
    walls[:40, 30] = 2  # a wall from y=0 to 4 m at x=3.0..3.1 m
    nav = NavGrid(walls == 0, 0.1)  # zero agent radius: free cells are navigable
    start, goal = (1.05, 1.05), (5.05, 1.05)
    # around the wall's end, through the centres of the free cells at its corners
    true = math.dist(start, (2.95, 4.05)) + 0.2 + math.dist((3.15, 4.05), goal)
    field = distance_field(nav, goal)
    assert true <= field.at(*start) <= true * 1.02
    ref8 = _dijkstra8(nav.navigable, (10, 50))[10, 10] * 0.1
    assert field.at(*start) <= ref8 + 1e-6  # 16 neighbours are never worse than 8
    assert ref8 > true * 1.02  # ...and 8 neighbours alone would miss the 2 % target here


def test_unreachable_cells_are_inf_and_goal_must_be_navigable():
    walls = _room()
    walls[:, 30] = 2  # split the room in two
    nav = NavGrid(walls == 0, 0.1)
    field = distance_field(nav, (1.05, 1.05))
    assert math.isinf(field.at(5.0, 1.0)) and math.isfinite(field.at(2.0, 2.0))
    with pytest.raises(ValueError, match="not in navigable space"):
        distance_field(nav, (3.05, 1.0))


def _move(nav, pos, heading, step=0.25):
    positions = np.array([pos], np.float64)
    collided = np.zeros(1, bool)
    move_forward_batch(
        nav.navigable[None],
        np.zeros(1, np.int32),
        positions,
        np.array([heading]),
        np.ones(1, bool),
        step,
        0.1,
        collided,
    )
    return positions[0], bool(collided[0])


def test_forward_moves_collide_slide_and_never_tunnel():
    walls = _room()
    walls[:, 30] = 2  # one-cell wall
    nav = NavGrid(walls == 0, 0.1)
    pos, hit = _move(nav, (2.0, 2.0), 0.0)
    assert pos[0] == pytest.approx(2.25) and not hit
    pos, hit = _move(nav, (2.9, 2.0), 0.0)  # head-on: stops before the wall
    assert hit and 2.9 <= pos[0] < 3.0 and pos[1] == pytest.approx(2.0)
    pos, hit = _move(nav, (2.95, 2.0), math.radians(45))  # at 45 degrees: slides along the wall in +y
    assert hit and pos[0] < 3.0 and pos[1] > 2.1
    pos, hit = _move(nav, (2.95, 2.0), 0.0, step=1.0)  # a long step still cannot cross a thin wall
    assert hit and pos[0] < 3.0


def test_turn_wraps_heading():
    h = np.array([math.pi - 0.05, 0.0])
    turn(h, np.array([1.0, -1.0]), math.radians(10))
    assert h[0] == pytest.approx(-math.pi + math.radians(10) - 0.05) and h[1] == pytest.approx(-math.radians(10))


def test_field_cache_reuses_fields():
    nav = navigable_grid(_building(_room()), 0.15)
    cache = FieldCache(max_entries=1)
    a = cache.get("t", nav, (1.0, 1.0))
    assert cache.get("t", nav, (1.0, 1.0)) is a and cache.hits == 1
    cache.get("t", nav, (2.0, 2.0))
    assert cache.get("t", nav, (1.0, 1.0)) is not a  # evicted (LRU of size 1)
