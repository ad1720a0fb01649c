"""The data of one building, shared by the generator, the geometry (navigation, collisions) and the renderer.

Ground-plane coordinates in metres. Grid cell ``(row i, col j)`` covers ``x in [j*cell, (j+1)*cell)`` and
``y in [i*cell, (i+1)*cell)``; the grid's corner is the origin. Every wall, box or other obstacle is a
full-height block of cells (a 2.5-D world: floor at z=0, ceiling at ``wall_height``); round pillars are kept
analytically so that they render as true cylinders (smooth normals, curvature 1/r).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Building:
    """One building: obstacle grid, round pillars, materials (textures) and its name/seed."""

    name: str
    seed: int
    cell_size: float  # metres per grid cell
    walls: np.ndarray  # uint8[H, W]; 0 = free, m > 0 = obstacle cell of material m (index into textures)
    pillars: np.ndarray  # float32[P, 4]; (cx, cy, radius, material) of full-height round pillars
    textures: np.ndarray  # uint8[M, T, T, 3]; material m's texture tile (RGB)
    floor_material: int
    ceiling_material: int
    wall_height: float = 2.5
    texture_scale: float = 1.0  # metres covered by one texture tile

    @property
    def size_m(self) -> tuple[float, float]:
        """(width along x, depth along y) in metres."""
        h, w = self.walls.shape
        return (w * self.cell_size, h * self.cell_size)
