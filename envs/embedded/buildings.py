"""Procedural multi-room buildings: rooms from a binary space partition, corridors, doorways, clutter and a look.

Everything is drawn from one ``numpy.random.Generator`` seeded with the building's seed, so a name and seed
always give the same building. Layout (see ``world.py``): a 0.1 m obstacle grid whose non-zero cells are
full-height blocks of a material, plus analytic round pillars. Connectivity: every BSP split gets one
doorway placed where both sides are free, so the rooms form one connected tree; clutter keeps clear of
doorways and leaves walkable gaps, so only small pockets can become unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from envs.embedded.world import Building

CELL = 0.1  # metres per obstacle-grid cell
TEXTURE_SIZE = 64  # texture tile side in pixels (one tile covers ``texture_scale`` metres)
FLOOR, CEILING, OUTER_WALL = 0, 1, 2
MIN_ROOM = 2.2  # metres: smallest room side
MAX_ROOM = 7.0  # metres: rooms larger than this are always split
DOOR_WIDTH = (0.9, 1.4)  # metres
CORRIDOR_WIDTH = (1.2, 1.8)  # metres
WALKWAY = 0.6  # metres kept free between clutter items and beside doorways


@dataclass
class _Room:
    """An axis-aligned free rectangle of grid cells ``[i0, i1) x [j0, j1)``."""

    i0: int
    i1: int
    j0: int
    j1: int
    corridor: bool = False


@dataclass
class _Split:
    """A wall separating two subtrees; a doorway is cut somewhere along ``[lo, hi)``."""

    vertical: bool  # True: wall cells are columns [c0, c1) spanning rows [lo, hi)
    c0: int
    c1: int
    lo: int
    hi: int


def generate_building(
    name: str, seed: int, size_range_m: tuple[float, float] = (10.0, 25.0), cell_size: float = CELL
) -> Building:
    """Generate the building ``name`` deterministically from ``seed`` (sides drawn from ``size_range_m``)."""
    if not size_range_m[0] >= 2 * MIN_ROOM or size_range_m[1] < size_range_m[0]:
        raise ValueError(f"size_range_m={size_range_m} must be increasing and at least {2 * MIN_ROOM} m")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    width_m, depth_m = rng.uniform(*size_range_m, size=2)
    h, w = int(round(depth_m / cell_size)), int(round(width_m / cell_size))
    thickness = int(rng.integers(1, 3))  # interior wall thickness in cells
    textures, palette = make_textures(rng)

    walls = np.zeros((h, w), np.uint8)
    border = 2
    walls[:border, :] = walls[-border:, :] = OUTER_WALL
    walls[:, :border] = walls[:, -border:] = OUTER_WALL
    rooms: list[_Room] = []
    splits: list[_Split] = []
    _partition(_Room(border, h - border, border, w - border), rng, cell_size, thickness, rooms, splits)
    for split in splits:
        material = int(rng.choice(palette["walls"]))
        if split.vertical:
            walls[split.lo : split.hi, split.c0 : split.c1] = material
        else:
            walls[split.c0 : split.c1, split.lo : split.hi] = material
    keepout = np.zeros((h, w), bool)
    for split in splits:
        _cut_door(walls, keepout, split, rng, cell_size)
    pillars = _furnish(walls, keepout, rooms, rng, cell_size, palette)
    return Building(
        name=name,
        seed=int(seed),
        cell_size=cell_size,
        walls=walls,
        pillars=np.asarray(pillars, np.float32).reshape(-1, 4),
        textures=textures,
        floor_material=FLOOR,
        ceiling_material=CEILING,
        wall_height=float(rng.uniform(2.4, 3.0)),
        texture_scale=1.0,
    )


def _partition(room: _Room, rng: np.random.Generator, cell: float, t: int, rooms: list, splits: list) -> None:
    """Recursively split ``room`` into rooms and corridors, recording each separating wall."""
    hi_i, hi_j = room.i1 - room.i0, room.j1 - room.j0
    min_cells = int(MIN_ROOM / cell)
    long_cells = max(hi_i, hi_j)
    can_split = long_cells >= 2 * min_cells + t
    must_split = long_cells * cell > MAX_ROOM
    if not can_split or (not must_split and rng.random() < 0.35):
        rooms.append(room)
        return
    vertical = hi_j >= hi_i  # split across the longer side: a vertical wall divides the columns
    lo, hi = (room.j0, room.j1) if vertical else (room.i0, room.i1)
    span_lo, span_hi = (room.i0, room.i1) if vertical else (room.j0, room.j1)
    corridor_cells = int(rng.uniform(*CORRIDOR_WIDTH) / cell)
    if long_cells >= 2 * min_cells + 2 * t + corridor_cells and rng.random() < 0.3:
        pos = int(rng.integers(lo + min_cells, hi - min_cells - 2 * t - corridor_cells + 1))
        first, second = pos, pos + t + corridor_cells
        splits.append(_Split(vertical, first, first + t, span_lo, span_hi))
        splits.append(_Split(vertical, second, second + t, span_lo, span_hi))
        corridor = _sub(room, vertical, first + t, second)
        corridor.corridor = True
        rooms.append(corridor)
        _partition(_sub(room, vertical, lo, first), rng, cell, t, rooms, splits)
        _partition(_sub(room, vertical, second + t, hi), rng, cell, t, rooms, splits)
        return
    pos = int(rng.integers(lo + min_cells, hi - min_cells - t + 1))
    splits.append(_Split(vertical, pos, pos + t, span_lo, span_hi))
    _partition(_sub(room, vertical, lo, pos), rng, cell, t, rooms, splits)
    _partition(_sub(room, vertical, pos + t, hi), rng, cell, t, rooms, splits)


def _sub(room: _Room, vertical: bool, a: int, b: int) -> _Room:
    return _Room(room.i0, room.i1, a, b) if vertical else _Room(a, b, room.j0, room.j1)


def _cut_door(walls: np.ndarray, keepout: np.ndarray, split: _Split, rng: np.random.Generator, cell: float) -> None:
    """Open a doorway in ``split`` where the cells on both sides are free, and keep its approaches clear."""
    view = walls if split.vertical else walls.T
    keep = keepout if split.vertical else keepout.T
    door = int(rng.uniform(*DOOR_WIDTH) / cell)
    margin = 3
    left, right = split.c0 - 1, split.c1  # the columns just beside the wall
    candidates = [
        s
        for s in range(split.lo + margin, split.hi - door - margin + 1)
        if not view[s - margin : s + door + margin, left].any()
        and not view[s - margin : s + door + margin, right].any()
    ]
    if not candidates:  # a room too small for a door cannot happen with MIN_ROOM >> door; fail loudly if it does
        raise RuntimeError(f"no room for a doorway in wall {split}; MIN_ROOM/DOOR_WIDTH are inconsistent")
    start = int(rng.choice(candidates))
    view[start : start + door, split.c0 : split.c1] = 0
    depth = int(1.0 / cell)
    keep[max(start - 2, 0) : start + door + 2, max(split.c0 - depth, 0) : split.c1 + depth] = True


def _furnish(walls, keepout, rooms, rng, cell, palette) -> list[tuple[float, float, float, float]]:
    """Place boxes and tables (obstacle blocks) and round pillars in rooms, leaving walkways and doorways free."""
    gap = int(WALKWAY / cell)
    taken = keepout.copy()  # cells where no clutter may start (door approaches, other clutter plus walkway)
    pillars: list[tuple[float, float, float, float]] = []
    for room in rooms:
        if room.corridor:
            continue
        rh, rw = room.i1 - room.i0, room.j1 - room.j0
        items = [("box", n) for n in range(int(rng.integers(0, 4)))] + [
            ("table", n) for n in range(int(rng.integers(0, 3)))
        ]
        for kind, _ in items:
            if kind == "box":
                sh, sw = rng.uniform(0.3, 0.8, size=2)
            else:
                sh, sw = rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.8)
                if rng.random() < 0.5:
                    sh, sw = sw, sh
            oh, ow = int(sh / cell), int(sw / cell)
            if oh > rh - gap - 1 or ow > rw - gap - 1:
                continue
            for _ in range(10):
                i = _snap(int(rng.integers(0, rh - oh + 1)), rh - oh, gap) + room.i0
                j = _snap(int(rng.integers(0, rw - ow + 1)), rw - ow, gap) + room.j0
                if not taken[i : i + oh, j : j + ow].any():
                    material = palette["box"] if kind == "box" else palette["table"]
                    walls[i : i + oh, j : j + ow] = material
                    taken[max(i - gap, 0) : i + oh + gap, max(j - gap, 0) : j + ow + gap] = True
                    break
        if rh * rw * cell * cell > 12.0 and rng.random() < 0.45:
            for _ in range(int(rng.integers(1, 4))):
                radius = float(rng.uniform(0.15, 0.5))
                clear = int((radius + WALKWAY) / cell) + 1
                if rh <= 2 * clear or rw <= 2 * clear:
                    continue
                for _ in range(10):
                    ci = int(rng.integers(room.i0 + clear, room.i1 - clear))
                    cj = int(rng.integers(room.j0 + clear, room.j1 - clear))
                    r_cells = int(radius / cell) + 1
                    if not taken[ci - r_cells : ci + r_cells + 1, cj - r_cells : cj + r_cells + 1].any():
                        pillars.append(((cj + 0.5) * cell, (ci + 0.5) * cell, radius, float(palette["pillar"])))
                        taken[ci - clear : ci + clear + 1, cj - clear : cj + clear + 1] = True
                        break
    return pillars


def _snap(offset: int, free: int, gap: int) -> int:
    """Push an item flush against a wall if it would leave a gap too narrow to walk through."""
    if 0 < offset < gap:
        return 0
    if 0 < free - offset < gap:
        return free
    return offset


# ----------------------------------------------------------------------------------------------- the look


def make_textures(rng: np.random.Generator, size: int = TEXTURE_SIZE) -> tuple[np.ndarray, dict]:
    """A building's material tiles ``uint8[M, T, T, 3]`` and which index serves which purpose."""
    patterns = [_bricks, _stripes, _checker, _noise, _wood, _plain]
    hue = rng.uniform(0, 180)  # a building-wide hue theme keeps the look coherent
    tiles = [
        _draw(rng, rng.choice([_checker, _wood, _noise, _plain]), hue, size),  # floor
        _draw(rng, rng.choice([_plain, _noise, _checker]), hue, size, light=True),  # ceiling
        _draw(rng, rng.choice([_bricks, _plain, _noise]), hue, size),  # outer wall
    ]
    n_walls = int(rng.integers(2, 4))
    for _ in range(n_walls):
        tiles.append(_draw(rng, patterns[int(rng.integers(len(patterns)))], hue, size))
    box, table, pillar = len(tiles), len(tiles) + 1, len(tiles) + 2
    tiles.append(_draw(rng, rng.choice([_wood, _stripes, _noise]), hue + 60, size))
    tiles.append(_draw(rng, _wood, 20.0, size))
    tiles.append(_draw(rng, rng.choice([_plain, _stripes, _noise]), hue + 120, size))
    palette = {"walls": list(range(3, 3 + n_walls)), "box": box, "table": table, "pillar": pillar}
    return np.stack(tiles).astype(np.uint8), palette


def _colour(rng: np.random.Generator, hue: float, light: bool = False) -> np.ndarray:
    h = (hue + rng.normal(0, 25)) % 180
    s = rng.uniform(20, 200) if not light else rng.uniform(0, 60)
    v = rng.uniform(60, 240) if not light else rng.uniform(180, 250)
    hsv = np.array([[[h, s, v]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _draw(rng: np.random.Generator, pattern, hue: float, size: int, light: bool = False) -> np.ndarray:
    """Blend two seeded colours with a pattern mask in [0, 1] and add fine grain so surfaces carry texture."""
    a, b = _colour(rng, hue, light), _colour(rng, hue, light)
    mask = pattern(rng, size)[..., None]
    grain = rng.normal(0, 6, size=(size, size, 1))
    return np.clip(a * (1 - mask) + b * mask + grain, 0, 255)


def _smooth_noise(rng: np.random.Generator, size: int, coarse: int) -> np.ndarray:
    base = rng.random((coarse, coarse)).astype(np.float32)
    base = np.tile(base, (2, 2))  # tileable: resize the doubled grid and keep the middle
    big = cv2.resize(base, (2 * size, 2 * size), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[size // 2 : size // 2 + size, size // 2 : size // 2 + size], 0, 1)


def _bricks(rng, size):
    bh = int(rng.choice([6, 8, 16]))
    bw = 2 * bh
    y, x = np.mgrid[0:size, 0:size]
    shift = ((y // bh) % 2) * (bw // 2)
    return (((y % bh) == 0) | (((x + shift) % bw) == 0)).astype(np.float32)


def _stripes(rng, size):
    period = int(rng.choice([8, 16, 32]))
    x = np.mgrid[0:size, 0:size][int(rng.integers(2))]
    return ((x % period) < period // 2).astype(np.float32)


def _checker(rng, size):
    sq = int(rng.choice([8, 16, 32]))
    y, x = np.mgrid[0:size, 0:size]
    return (((y // sq) + (x // sq)) % 2).astype(np.float32)


def _noise(rng, size):
    return _smooth_noise(rng, size, int(rng.choice([4, 8, 16])))


def _wood(rng, size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    warp = _smooth_noise(rng, size, 4) * 6
    return 0.5 + 0.5 * np.sin((x + warp) * 2 * np.pi / size * int(rng.integers(3, 7)))


def _plain(rng, size):
    return _smooth_noise(rng, size, 4) * 0.25
