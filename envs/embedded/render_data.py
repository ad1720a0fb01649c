"""The renderer's data: buildings packed into padded arrays and the pinhole camera's tables.

Shared by the renderer front end (renderer.py) and both kernel sets (render_cpu.py, render_torch.py), which
therefore import this module and never each other's front end (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.embedded.world import Building


@dataclass(frozen=True)
class PackedBuildings:
    """All buildings of a renderer in padded stacked arrays (index 0..B-1 = order given)."""

    grids: np.ndarray  # uint8[B, Hmax, Wmax] obstacle materials (0 = free), padded with free cells
    dims: np.ndarray  # int64[B, 2] true (rows, cols) of each grid
    cell_sizes: np.ndarray  # float64[B]
    pillars: np.ndarray  # float64[B, Pmax, 4] (cx, cy, radius, material)
    pillar_counts: np.ndarray  # int64[B]
    textures: np.ndarray  # uint8[B, Mmax, T, T, 3]
    texels_per_m: np.ndarray  # float64[B] texture pixels per metre (T / texture_scale)
    tex_mask: int  # T - 1 (T is a power of two, so texel index = floor(coord) & mask)
    floor_materials: np.ndarray  # int64[B]
    ceiling_materials: np.ndarray  # int64[B]
    wall_heights: np.ndarray  # float64[B]


@dataclass(frozen=True)
class CameraTables:
    """Pinhole camera tables: ray slope per column (x / focal) and pixel-centre height per row (y, up)."""

    column_slopes: np.ndarray  # float64[W]: x_c / focal, x_c = c + 0.5 - W/2 (positive = right)
    row_heights: np.ndarray  # float64[H]: y_r = H/2 - (r + 0.5) (positive = up), in pixels
    focal: float  # pixels
    height_m: float  # camera height above the floor


def pack_buildings(buildings: list[Building], camera_height: float) -> PackedBuildings:
    """Validate the buildings and stack them into padded arrays (once, at construction)."""
    if not buildings:
        raise ValueError("Renderer needs at least one building")
    tile_sizes = {b.textures.shape[1] for b in buildings}
    if len(tile_sizes) != 1:
        raise ValueError(f"all buildings must share one texture tile size; got sizes {sorted(tile_sizes)}")
    tile = tile_sizes.pop()
    if tile < 1 or tile & (tile - 1):
        raise ValueError(f"texture tiles must be square with a power-of-two side; got {tile}")
    for b in buildings:
        _check_building(b, camera_height)
    count = len(buildings)
    rows = max(b.walls.shape[0] for b in buildings)
    cols = max(b.walls.shape[1] for b in buildings)
    max_pillars = max(1, max(len(b.pillars) for b in buildings))
    max_materials = max(b.textures.shape[0] for b in buildings)
    grids = np.zeros((count, rows, cols), np.uint8)
    pillars = np.zeros((count, max_pillars, 4), np.float64)
    textures = np.zeros((count, max_materials, tile, tile, 3), np.uint8)
    for k, b in enumerate(buildings):
        grids[k, : b.walls.shape[0], : b.walls.shape[1]] = b.walls
        pillars[k, : len(b.pillars)] = b.pillars
        textures[k, : b.textures.shape[0]] = b.textures
    return PackedBuildings(
        grids=grids,
        dims=np.array([b.walls.shape for b in buildings], np.int64),
        cell_sizes=np.array([b.cell_size for b in buildings], np.float64),
        pillars=pillars,
        pillar_counts=np.array([len(b.pillars) for b in buildings], np.int64),
        textures=textures,
        texels_per_m=np.array([tile / b.texture_scale for b in buildings], np.float64),
        tex_mask=tile - 1,
        floor_materials=np.array([b.floor_material for b in buildings], np.int64),
        ceiling_materials=np.array([b.ceiling_material for b in buildings], np.int64),
        wall_heights=np.array([b.wall_height for b in buildings], np.float64),
    )


def _check_building(b: Building, camera_height: float) -> None:
    """Reject buildings the kernels would index out of bounds or draw wrongly."""
    materials = b.textures.shape[0]
    if b.textures.ndim != 4 or b.textures.shape[1] != b.textures.shape[2] or b.textures.shape[3] != 3:
        raise ValueError(f"building {b.name!r}: textures must be uint8[M, T, T, 3]; got shape {b.textures.shape}")
    if b.walls.ndim != 2 or b.walls.size == 0:
        raise ValueError(f"building {b.name!r}: walls must be a non-empty 2-D grid; got shape {b.walls.shape}")
    used = [int(b.walls.max()), b.floor_material, b.ceiling_material]
    pillars = np.asarray(b.pillars).reshape(-1, 4)
    if len(pillars):
        used.append(int(pillars[:, 3].max()))
        if (pillars[:, 2] <= 0).any():
            raise ValueError(f"building {b.name!r}: pillar radii must be positive")
    if max(used) >= materials or min(used) < 0:
        raise ValueError(f"building {b.name!r}: a material id is outside the {materials} textures")
    if b.cell_size <= 0 or b.texture_scale <= 0:
        raise ValueError(f"building {b.name!r}: cell_size and texture_scale must be positive")
    if not 0 < camera_height < b.wall_height:
        raise ValueError(
            f"camera_height={camera_height} must lie between the floor and the ceiling "
            f"(wall_height={b.wall_height} in building {b.name!r})"
        )


def camera_tables(resolution: int, hfov_deg: float, camera_height: float) -> CameraTables:
    """Tabulate the square pinhole camera (same focal length horizontally and vertically)."""
    focal = (resolution / 2) / np.tan(np.deg2rad(hfov_deg) / 2)
    centres = np.arange(resolution, dtype=np.float64) + 0.5 - resolution / 2
    return CameraTables(
        column_slopes=centres / focal, row_heights=-centres, focal=float(focal), height_m=float(camera_height)
    )
