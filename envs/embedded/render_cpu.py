"""Numba CPU kernels of the batched ray-cast renderer (one ray per image column, then one job per image row).

Pass 1 (`cast_columns`, parallel over agents) casts one ray per column through the obstacle grid (DDA) and
against the round pillars and keeps, per column, the nearest hit: z-depth, material, texture column, shade
and normal. Pass 2 (`shade_rows`, parallel over agent rows) fills each row: floor/ceiling where the plane is
nearer than the column's wall, the wall's texture otherwise. The shading model constants below are shared
with the torch kernels (`render_torch.py`) so both paths draw the same picture.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

if TYPE_CHECKING:
    from envs.embedded.render_data import CameraTables, PackedBuildings

# ---------------------------------------------------------------- shading model (shared with render_torch)
FAR_PLANE = 100.0  # metres: depth of rays that hit nothing (open buildings)
LIGHT_X, LIGHT_Y = 0.8660254037844386, 0.5  # horizontal light direction: walls facing +-x vs +-y differ
WALL_AMBIENT, WALL_DIFFUSE = 0.55, 0.45  # wall orientation factor = ambient + diffuse * |n . light|
FLOOR_FACTOR, CEILING_FACTOR = 0.85, 1.0
DISTANCE_FALLOFF = 0.1  # distance factor = 1 / (1 + falloff * depth)
SHADE_ONE = 256  # fixed-point shade: colour = (texel * shade) >> 8


@njit(inline="always", fastmath=True)
def _fixed_shade(orientation: float, depth: float) -> int:
    """Fixed-point shade in [0, 256] from an orientation factor and the z-depth."""
    return int(SHADE_ONE * orientation / (1.0 + DISTANCE_FALLOFF * depth))


@njit(parallel=True, fastmath=True, cache=True)
def cast_columns(
    grids,
    dims,
    cell_sizes,
    pillars,
    pillar_counts,
    texels_per_m,
    tex_mask,
    building_idx,
    positions,
    headings,
    column_slopes,
    col_depth,
    col_material,
    col_tex_u,
    col_shade,
    col_normal_x,
    col_normal_z,
    col_dir_x,
    col_dir_y,
):
    """Cast one ray per (agent, column); rays have unit forward component so the hit parameter is z-depth."""
    n_agents = building_idx.shape[0]
    width = column_slopes.shape[0]
    for n in prange(n_agents):
        b = building_idx[n]
        fx, fy = math.cos(headings[n]), math.sin(headings[n])
        rx, ry = fy, -fx  # right = heading - 90 degrees
        px, py = positions[n, 0], positions[n, 1]
        cell = cell_sizes[b]
        rows, cols = dims[b, 0], dims[b, 1]
        k = texels_per_m[b]
        for c in range(width):
            dx = fx + column_slopes[c] * rx
            dy = fy + column_slopes[c] * ry
            col_dir_x[n, c] = dx
            col_dir_y[n, c] = dy
            best, mat, u, nx, ny = FAR_PLANE, -1, 0.0, 0.0, 0.0
            # round pillars: nearest front intersection of the ray with each circle
            a = dx * dx + dy * dy
            for p in range(pillar_counts[b]):
                cx, cy, r = pillars[b, p, 0], pillars[b, p, 1], pillars[b, p, 2]
                ox, oy = px - cx, py - cy
                half_b = ox * dx + oy * dy
                cc = ox * ox + oy * oy - r * r
                disc = half_b * half_b - a * cc
                if cc <= 0.0 or disc < 0.0 or half_b >= 0.0:
                    continue  # inside the pillar, missed it, or it is behind the camera
                t = (-half_b - math.sqrt(disc)) / a
                if t < best:
                    hx, hy = (ox + t * dx) / r, (oy + t * dy) / r
                    best, mat, nx, ny = t, int(pillars[b, p, 3]), hx, hy
                    u = (math.atan2(hy, hx) + math.pi) * r
            # grid DDA (Amanatides & Woo) in cell units, stopping at the nearer pillar
            gx, gy = px / cell, py / cell
            j, i = int(math.floor(gx)), int(math.floor(gy))
            if 0 <= i < rows and 0 <= j < cols:
                if grids[b, i, j] != 0:  # camera inside an obstacle: the wall is at the lens
                    best, mat, nx, ny, u = 0.0, int(grids[b, i, j]), -fx, -fy, 0.0
                else:
                    step_x = 1 if dx > 0.0 else -1
                    step_y = 1 if dy > 0.0 else -1
                    delta_x = cell / abs(dx) if dx != 0.0 else 1e30
                    delta_y = cell / abs(dy) if dy != 0.0 else 1e30
                    next_x = ((j + 1 - gx) if dx > 0.0 else (gx - j)) * delta_x
                    next_y = ((i + 1 - gy) if dy > 0.0 else (gy - i)) * delta_y
                    while True:
                        if next_x < next_y:
                            t = next_x
                            j += step_x
                            next_x += delta_x
                            side_x = True
                        else:
                            t = next_y
                            i += step_y
                            next_y += delta_y
                            side_x = False
                        if t >= best or i < 0 or i >= rows or j < 0 or j >= cols:
                            break
                        m = grids[b, i, j]
                        if m != 0:
                            best, mat = t, int(m)
                            if side_x:
                                nx, ny, u = float(-step_x), 0.0, py + t * dy
                            else:
                                nx, ny, u = 0.0, float(-step_y), px + t * dx
                            break
            col_depth[n, c] = best
            col_material[n, c] = mat
            col_tex_u[n, c] = int(math.floor(u * k)) & tex_mask
            orientation = WALL_AMBIENT + WALL_DIFFUSE * abs(nx * LIGHT_X + ny * LIGHT_Y)
            col_shade[n, c] = _fixed_shade(orientation, best)
            col_normal_x[n, c] = nx * rx + ny * ry
            col_normal_z[n, c] = -(nx * fx + ny * fy)


@njit(parallel=True, fastmath=True, cache=True)
def shade_rows(
    textures,
    floor_materials,
    ceiling_materials,
    wall_heights,
    texels_per_m,
    tex_mask,
    building_idx,
    positions,
    camera_height,
    focal,
    row_heights,
    col_depth,
    col_material,
    col_tex_u,
    col_shade,
    col_normal_x,
    col_normal_z,
    col_dir_x,
    col_dir_y,
    want_rgb,
    want_depth,
    want_normals,
    rgb,
    depth,
    normals,
):
    """Fill every (agent, row): textured floor/ceiling where the plane is nearer than the column's wall."""
    n_agents = building_idx.shape[0]
    height = row_heights.shape[0]
    width = col_depth.shape[1]
    for job in prange(n_agents * height):
        n = job // height
        r = job - n * height
        b = building_idx[n]
        px, py = positions[n, 0], positions[n, 1]
        k = texels_per_m[b]
        yc = row_heights[r]  # pixel-centre height above the optical axis, in focal units * focal
        if yc < 0.0:
            plane_depth = camera_height * focal / -yc
            plane_mat, plane_ny, plane_factor = floor_materials[b], 1.0, FLOOR_FACTOR
        elif yc > 0.0:
            plane_depth = (wall_heights[b] - camera_height) * focal / yc
            plane_mat, plane_ny, plane_factor = ceiling_materials[b], -1.0, CEILING_FACTOR
        else:
            plane_depth, plane_mat, plane_ny, plane_factor = 1e30, 0, 0.0, 0.0
        plane_shade = _fixed_shade(plane_factor, plane_depth) if plane_depth < 1e29 else 0
        wall_top = (wall_heights[b] - camera_height) * k  # texel rows from the wall top down to the camera
        yk = yc / focal * k
        for c in range(width):
            t = col_depth[n, c]
            if plane_depth < t:
                if want_rgb:
                    tu = int(math.floor((px + plane_depth * col_dir_x[n, c]) * k)) & tex_mask
                    tv = int(math.floor((py + plane_depth * col_dir_y[n, c]) * k)) & tex_mask
                    for ch in range(3):
                        rgb[n, ch, r, c] = (textures[b, plane_mat, tv, tu, ch] * plane_shade) >> 8
                if want_depth:
                    depth[n, 0, r, c] = plane_depth
                if want_normals:
                    normals[n, 0, r, c] = 0.0
                    normals[n, 1, r, c] = plane_ny
                    normals[n, 2, r, c] = 0.0
            else:
                m = col_material[n, c]
                if want_rgb:
                    if m < 0:
                        for ch in range(3):
                            rgb[n, ch, r, c] = 0
                    else:
                        tv = int(math.floor(wall_top - yk * t)) & tex_mask
                        tu = col_tex_u[n, c]
                        s = col_shade[n, c]
                        for ch in range(3):
                            rgb[n, ch, r, c] = (textures[b, m, tv, tu, ch] * s) >> 8
                if want_depth:
                    depth[n, 0, r, c] = t
                if want_normals:
                    normals[n, 0, r, c] = col_normal_x[n, c] if m >= 0 else 0.0
                    normals[n, 1, r, c] = 0.0
                    normals[n, 2, r, c] = col_normal_z[n, c] if m >= 0 else 1.0


def render_numba(
    packed: PackedBuildings,
    building_idx: np.ndarray,
    positions: np.ndarray,
    headings: np.ndarray,
    camera: CameraTables,
    sensors: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Render validated inputs (int64/float64 contiguous arrays, see `Renderer`) with the numba kernels."""
    n, width, height = building_idx.shape[0], camera.column_slopes.shape[0], camera.row_heights.shape[0]
    cols = {
        "depth": np.empty((n, width), np.float64),
        "material": np.empty((n, width), np.int32),
        "tex_u": np.empty((n, width), np.int32),
        "shade": np.empty((n, width), np.int32),
        "normal_x": np.empty((n, width), np.float32),
        "normal_z": np.empty((n, width), np.float32),
        "dir_x": np.empty((n, width), np.float64),
        "dir_y": np.empty((n, width), np.float64),
    }
    cast_columns(
        packed.grids,
        packed.dims,
        packed.cell_sizes,
        packed.pillars,
        packed.pillar_counts,
        packed.texels_per_m,
        packed.tex_mask,
        building_idx,
        positions,
        headings,
        camera.column_slopes,
        *cols.values(),
    )
    dummy_u8, dummy_f32 = np.empty((1, 1, 1, 1), np.uint8), np.empty((1, 1, 1, 1), np.float32)
    rgb = np.empty((n, 3, height, width), np.uint8) if "rgb" in sensors else dummy_u8
    depth = np.empty((n, 1, height, width), np.float32) if "depth" in sensors else dummy_f32
    normals = np.empty((n, 3, height, width), np.float32) if "normals" in sensors else dummy_f32
    shade_rows(
        packed.textures,
        packed.floor_materials,
        packed.ceiling_materials,
        packed.wall_heights,
        packed.texels_per_m,
        packed.tex_mask,
        building_idx,
        positions,
        camera.height_m,
        camera.focal,
        camera.row_heights,
        *cols.values(),
        "rgb" in sensors,
        "depth" in sensors,
        "normals" in sensors,
        rgb,
        depth,
        normals,
    )
    out = {"rgb": rgb, "depth": depth, "normals": normals}
    return {name: out[name] for name in sensors}
