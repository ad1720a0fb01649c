"""Torch kernels of the batched renderer (device-agnostic: 'cuda' or the CPU as 'torch-cpu').

Instead of a sequential DDA, each building's grid is turned once into axis-aligned wall segments (the faces
between an obstacle cell and a free cell, merged into runs of one material); every (agent, column) ray is
intersected with all segments and pillars of its building at once, and the nearest hit wins. The per-pixel
pass is the same shading model as the numba kernels (constants imported from `render_cpu.py`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from common.errors import EnvironmentSetupError
from envs.embedded.render_cpu import (
    CEILING_FACTOR,
    DISTANCE_FALLOFF,
    FAR_PLANE,
    FLOOR_FACTOR,
    LIGHT_X,
    LIGHT_Y,
    SHADE_ONE,
    WALL_AMBIENT,
    WALL_DIFFUSE,
)
from envs.embedded.world import Building

if TYPE_CHECKING:
    from envs.embedded.render_data import CameraTables, PackedBuildings

RAY_BLOCK = 1 << 22  # rays x primitives per intersection block, bounds temporary memory
INF = float("inf")


def _runs(faces: np.ndarray) -> np.ndarray:
    """Runs of equal non-zero values along axis 0 of ``faces[L, K]`` as int64 rows (line k, start, end, value)."""
    padded = np.zeros((faces.shape[0] + 2, faces.shape[1]), np.int64)
    padded[1:-1] = faces
    change = padded[1:] != padded[:-1]  # [L+1, K]: a run starts or ends between consecutive entries
    out = []
    for k in range(faces.shape[1]):
        edges = np.flatnonzero(change[:, k])
        for a, b in zip(edges[:-1], edges[1:], strict=False):
            if padded[a + 1, k] != 0:
                out.append((k, a, b, padded[a + 1, k]))
    return np.array(out, np.int64).reshape(-1, 4)


def wall_segments(walls: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the obstacle grid seen from free cells, merged into segments.

    Returns ``vertical float64[Sv, 5]`` (x, y0, y1, material, normal_x) on lines x = const and
    ``horizontal float64[Sh, 5]`` (y, x0, x1, material, normal_y) on lines y = const.
    """
    grid = walls.astype(np.int64)
    occupied, free = grid != 0, grid == 0
    segments = []
    for g, occ, fr in ((grid, occupied, free), (grid.T, occupied.T, free.T)):  # vertical faces, then horizontal
        # faces between columns j-1 and j of g (i.e. on line j), along rows; occupied side gives the material
        faces_neg = np.zeros((g.shape[0], g.shape[1] + 1), np.int64)  # obstacle at j, free at j-1: normal -1
        faces_pos = np.zeros_like(faces_neg)  # obstacle at j-1, free at j: normal +1
        faces_neg[:, 1:-1] = np.where(occ[:, 1:] & fr[:, :-1], g[:, 1:], 0)
        faces_pos[:, 1:-1] = np.where(occ[:, :-1] & fr[:, 1:], g[:, :-1], 0)
        parts = []
        for faces, normal in ((faces_neg, -1.0), (faces_pos, 1.0)):
            runs = _runs(faces).astype(np.float64)
            parts.append(
                np.stack(
                    [runs[:, 0] * cell, runs[:, 1] * cell, runs[:, 2] * cell, runs[:, 3], np.full(len(runs), normal)], 1
                )
            )
        segments.append(np.concatenate(parts).reshape(-1, 5))
    return segments[0], segments[1]


def _pad_stack(arrays: list[np.ndarray], width: int) -> np.ndarray:
    """Stack ``[S_b, width]`` arrays into ``[B, max S, width]``.

    Padding rows never intersect (material -1, empty span).
    """
    size = max(1, max(len(a) for a in arrays))
    out = np.zeros((len(arrays), size, width), np.float64)
    out[:, :, 1], out[:, :, 2], out[:, :, 3] = 1.0, 0.0, -1.0  # span [1, 0] is empty
    for k, a in enumerate(arrays):
        out[k, : len(a)] = a
    return out


class TorchRenderer:
    """Packed buildings and camera tables as tensors on ``device``; renders validated numpy inputs."""

    def __init__(self, packed: PackedBuildings, buildings: list[Building], camera: CameraTables, device: str) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise EnvironmentSetupError(
                "env.render_device", "'cuda' but CUDA is not available on this machine", "set env.render_device=cpu"
            )
        self.device = torch.device("cpu" if device == "torch-cpu" else device)
        dev, f32 = self.device, torch.float32
        segs = [wall_segments(b.walls, b.cell_size) for b in buildings]
        self.vertical = torch.tensor(_pad_stack([s[0] for s in segs], 5), dtype=f32, device=dev)
        self.horizontal = torch.tensor(_pad_stack([s[1] for s in segs], 5), dtype=f32, device=dev)
        self.pillars = torch.tensor(packed.pillars, dtype=f32, device=dev)
        self.pillar_valid = (
            torch.arange(packed.pillars.shape[1], device=dev)[None, :]
            < torch.tensor(packed.pillar_counts, device=dev)[:, None]
        )
        self.grids = torch.tensor(packed.grids, dtype=torch.int64, device=dev)
        self.dims = torch.tensor(packed.dims, dtype=torch.int64, device=dev)
        self.cell_sizes = torch.tensor(packed.cell_sizes, dtype=f32, device=dev)
        b, m, t = packed.textures.shape[:3]
        self.tile, self.materials, self.mask = t, m, packed.tex_mask
        self.textures = torch.tensor(packed.textures.reshape(-1, 3).T.copy(), device=dev)  # uint8[3, B*M*T*T]
        self.texels_per_m = torch.tensor(packed.texels_per_m, dtype=f32, device=dev)
        self.floor_materials = torch.tensor(packed.floor_materials, device=dev)
        self.ceiling_materials = torch.tensor(packed.ceiling_materials, device=dev)
        self.wall_heights = torch.tensor(packed.wall_heights, dtype=f32, device=dev)
        self.column_slopes = torch.tensor(camera.column_slopes, dtype=f32, device=dev)
        self.row_heights = torch.tensor(camera.row_heights, dtype=f32, device=dev)
        self.focal = camera.focal
        self.camera_height = camera.height_m

    @torch.no_grad()
    def render(
        self, building_idx: np.ndarray, positions: np.ndarray, headings: np.ndarray, sensors: tuple[str, ...]
    ) -> dict[str, torch.Tensor]:
        """Render the requested sensors as tensors on the device (rgb uint8, depth/normals float32; channel-first)."""
        dev = self.device
        idx = torch.as_tensor(building_idx, device=dev)
        pos = torch.as_tensor(positions, dtype=torch.float32, device=dev)
        head = torch.as_tensor(headings, dtype=torch.float32, device=dev)
        n, width, height = idx.shape[0], self.column_slopes.shape[0], self.row_heights.shape[0]
        if n == 0:
            shapes = {"rgb": (0, 3, height, width), "depth": (0, 1, height, width), "normals": (0, 3, height, width)}
            return {
                s: torch.zeros(shapes[s], dtype=torch.uint8 if s == "rgb" else torch.float32, device=dev)
                for s in sensors
            }
        cols = self._cast_columns(idx, pos, head)
        return self._shade(idx, pos, cols, sensors)

    # ------------------------------------------------------------------------------------------ rays
    def _cast_columns(self, idx, pos, head) -> dict[str, torch.Tensor]:
        """Nearest hit per (agent, column): z-depth, material, world normal, texture u (metres)."""
        fx, fy = torch.cos(head)[:, None], torch.sin(head)[:, None]
        dx = fx + self.column_slopes[None, :] * fy  # right = (sin h, -cos h)
        dy = fy - self.column_slopes[None, :] * fx
        px, py = pos[:, 0:1], pos[:, 1:2]
        per_ray = max(self.vertical.shape[1], self.horizontal.shape[1], self.pillars.shape[1]) * dx.shape[1]
        block = max(1, RAY_BLOCK // per_ray)
        parts = [
            self._intersect(
                idx[s : s + block], px[s : s + block], py[s : s + block], dx[s : s + block], dy[s : s + block]
            )
            for s in range(0, idx.shape[0], block)
        ]
        t, mat, nx, ny, u = (torch.cat([p[k] for p in parts]) for k in range(5))
        t, mat, nx, ny, u = self._inside_obstacle(idx, px, py, fx, fy, t, mat, nx, ny, u)
        missed = t >= FAR_PLANE
        t = torch.where(missed, torch.full_like(t, FAR_PLANE), t)
        mat = torch.where(missed, torch.full_like(mat, -1), mat)
        k = self.texels_per_m[idx][:, None]
        orientation = WALL_AMBIENT + WALL_DIFFUSE * torch.abs(nx * LIGHT_X + ny * LIGHT_Y)
        return {
            "depth": t,
            "material": mat,
            "tex_u": torch.floor(u * k).long() & self.mask,
            "shade": (SHADE_ONE * orientation / (1.0 + DISTANCE_FALLOFF * t)).long(),
            "normal_x": nx * fy - ny * fx,  # n . right
            "normal_z": -(nx * fx + ny * fy),  # -(n . forward): z points towards the camera
            "dir_x": dx,
            "dir_y": dy,
        }

    def _intersect(self, idx, px, py, dx, dy):
        """Intersect rays ``[n, W]`` with their building's wall segments and pillars; nearest hit per ray."""
        px3, py3, dx3, dy3 = px[:, :, None], py[:, :, None], dx[:, :, None], dy[:, :, None]
        hits = []
        for segs, along, _across, d_along, d_across, p_along, p_across in (
            (self.vertical[idx], "x", "y", dx3, dy3, px3, py3),
            (self.horizontal[idx], "y", "x", dy3, dx3, py3, px3),
        ):
            line, lo, hi, mat, normal = (segs[:, None, :, c] for c in range(5))
            t = (line - p_along) / d_along
            across_hit = p_across + t * d_across
            valid = (d_along * normal < 0) & (t > 0) & (across_hit >= lo) & (across_hit <= hi)
            t = torch.where(valid, t, INF)
            best, arg = t.min(dim=2)
            hit_mat = torch.gather(mat.expand(-1, t.shape[1], -1), 2, arg[:, :, None])[:, :, 0]
            hit_normal = torch.gather(normal.expand(-1, t.shape[1], -1), 2, arg[:, :, None])[:, :, 0]
            u = p_across[:, :, 0] + best * d_across[:, :, 0]
            nx, ny = (
                (hit_normal, torch.zeros_like(hit_normal))
                if along == "x"
                else (torch.zeros_like(hit_normal), hit_normal)
            )
            hits.append((best, hit_mat.long(), nx, ny, u))
        hits.append(self._intersect_pillars(idx, px3, py3, dx3, dy3))
        t = torch.stack([h[0] for h in hits])
        best, which = t.min(dim=0)
        pick = lambda k: torch.gather(torch.stack([h[k] for h in hits]), 0, which[None])[0]  # noqa: E731
        return best, pick(1), pick(2), pick(3), pick(4)

    def _intersect_pillars(self, idx, px3, py3, dx3, dy3):
        """Nearest front intersection of each ray with its building's round pillars."""
        pil = self.pillars[idx][:, None]  # [n, 1, P, 4]
        cx, cy, r, mat = pil[..., 0], pil[..., 1], pil[..., 2], pil[..., 3]
        ox, oy = px3 - cx, py3 - cy
        a = dx3 * dx3 + dy3 * dy3
        half_b = ox * dx3 + oy * dy3
        cc = ox * ox + oy * oy - r * r
        disc = half_b * half_b - a * cc
        valid = self.pillar_valid[idx][:, None] & (cc > 0) & (disc >= 0) & (half_b < 0)
        t = torch.where(valid, (-half_b - torch.sqrt(torch.clamp(disc, min=0))) / a, INF)
        best, arg = t.min(dim=2)
        take = lambda v: torch.gather(v.expand(-1, t.shape[1], -1), 2, arg[:, :, None])[:, :, 0]  # noqa: E731
        r_hit = take(r)
        nx = (px3[:, :, 0] - take(cx) + best * dx3[:, :, 0]) / r_hit
        ny = (py3[:, :, 0] - take(cy) + best * dy3[:, :, 0]) / r_hit
        finite = torch.isfinite(best)
        nx, ny = torch.where(finite, nx, 0.0), torch.where(finite, ny, 0.0)
        u = (torch.atan2(ny, nx) + math.pi) * r_hit
        return best, take(mat).long(), nx, ny, torch.where(finite, u, 0.0)

    def _inside_obstacle(self, idx, px, py, fx, fy, t, mat, nx, ny, u):
        """A camera inside an obstacle cell sees that obstacle at depth 0 (as the numba DDA does)."""
        cell = self.cell_sizes[idx][:, None]
        i, j = torch.floor(py / cell).long(), torch.floor(px / cell).long()
        dims = self.dims[idx]
        inside = (i >= 0) & (i < dims[:, 0:1]) & (j >= 0) & (j < dims[:, 1:2])
        m = self.grids[idx[:, None], i.clamp(0, self.grids.shape[1] - 1), j.clamp(0, self.grids.shape[2] - 1)]
        blocked = (inside & (m != 0)).expand_as(t)
        zero = torch.zeros_like(t)
        return (
            torch.where(blocked, zero, t),
            torch.where(blocked, m.expand_as(mat), mat),
            torch.where(blocked, (-fx).expand_as(nx), nx),
            torch.where(blocked, (-fy).expand_as(ny), ny),
            torch.where(blocked, zero, u),
        )

    # ---------------------------------------------------------------------------------------- pixels
    def _shade(self, idx, pos, cols, sensors) -> dict[str, torch.Tensor]:
        """Per pixel: floor/ceiling where the plane is nearer than the column's hit, else the wall."""
        yc = self.row_heights[None, :]  # [1, H]
        below = yc < 0
        wall_h = self.wall_heights[idx][:, None]  # [n, 1]
        plane_depth = torch.where(
            below, self.camera_height * self.focal / -yc, (wall_h - self.camera_height) * self.focal / yc
        )  # [n, H]
        plane_depth = torch.where(yc == 0, INF, plane_depth)  # the horizon row (odd resolutions) is all wall
        t = cols["depth"][:, None, :]  # [n, 1, W]
        is_plane = plane_depth[:, :, None] < t  # [n, H, W]
        out: dict[str, torch.Tensor] = {}
        if "rgb" in sensors:
            out["rgb"] = self._colour(idx, pos, cols, below, wall_h, plane_depth, is_plane)
        if "depth" in sensors:
            out["depth"] = torch.where(is_plane, plane_depth[:, :, None], t)[:, None]
        if "normals" in sensors:
            hit = cols["material"][:, None, :] >= 0
            plane_ny = torch.where(below, 1.0, -1.0)[:, :, None].expand_as(is_plane)
            zero = torch.zeros((), device=self.device)
            nx = torch.where(is_plane | ~hit, zero, cols["normal_x"][:, None, :])
            ny = torch.where(is_plane, plane_ny, zero)
            nz = torch.where(is_plane, zero, torch.where(hit, cols["normal_z"][:, None, :], 1.0))
            out["normals"] = torch.stack([nx, ny, nz], dim=1)
        return out

    def _colour(self, idx, pos, cols, below, wall_h, plane_depth, is_plane) -> torch.Tensor:
        """Texture lookup and fixed-point shading of every pixel; returns uint8[n, 3, H, W]."""
        k = self.texels_per_m[idx][:, None, None]  # [n, 1, 1]
        pd = plane_depth[:, :, None]
        tu_plane = torch.floor((pos[:, 0, None, None] + pd * cols["dir_x"][:, None, :]) * k).long() & self.mask
        tv_plane = torch.floor((pos[:, 1, None, None] + pd * cols["dir_y"][:, None, :]) * k).long() & self.mask
        plane_mat = torch.where(below, self.floor_materials[idx][:, None], self.ceiling_materials[idx][:, None])
        wall_top = (wall_h[:, :, None] - self.camera_height) * k
        yk = (self.row_heights / self.focal)[None, :, None] * k
        tv_wall = torch.floor(wall_top - yk * cols["depth"][:, None, :]).long() & self.mask
        wall_mat = cols["material"].clamp(min=0)[:, None, :]
        mat = torch.where(is_plane, plane_mat[:, :, None], wall_mat)
        tv = torch.where(is_plane, tv_plane, tv_wall)
        tu = torch.where(is_plane, tu_plane, cols["tex_u"][:, None, :])
        flat = ((idx[:, None, None] * self.materials + mat) * self.tile + tv) * self.tile + tu
        factor = torch.where(below, FLOOR_FACTOR, CEILING_FACTOR)
        plane_shade = (SHADE_ONE * factor / (1.0 + DISTANCE_FALLOFF * plane_depth)).long()  # [n, H]
        wall_shade = torch.where(cols["material"] >= 0, cols["shade"], 0)
        shade = torch.where(is_plane, plane_shade[:, :, None], wall_shade[:, None, :])
        texels = self.textures[:, flat.reshape(-1)].reshape(3, *flat.shape).to(torch.int32)  # [3, n, H, W]
        rgb = (texels * shade[None].to(torch.int32)) >> 8
        return rgb.to(torch.uint8).permute(1, 0, 2, 3).contiguous()
