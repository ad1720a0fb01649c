"""Batched renderer of the embedded simulator: N agents in N (possibly different) buildings in one call.

Buildings are packed once into padded stacked arrays so a batch can mix them; the camera's per-column ray
slopes and per-row pixel heights are tabulated once. Two kernel sets sit behind one interface: numba on the
CPU (``device='cpu'``) and pure torch (``'torch-cpu'`` or ``'cuda'``); they draw the same picture.
Images are channel-first (see ``envs/backend.py``): rgb uint8[N,3,H,W], depth float32[N,1,H,W] (z-depth in
metres), normals float32[N,3,H,W] (camera frame: x right, y up, z towards the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.embedded.render_cpu import render_numba
from envs.embedded.world import Building

SENSORS = ("rgb", "depth", "normals")
DEVICES = ("cpu", "torch-cpu", "cuda")
MIN_RESOLUTION, MAX_RESOLUTION = 16, 1024


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
    return CameraTables(column_slopes=centres / focal, row_heights=-centres, focal=float(focal), height_m=float(camera_height))


class Renderer:
    """Render rgb/depth/normals for N agents given building indices and poses, on numba or torch kernels."""

    def __init__(
        self,
        buildings: list[Building],
        resolution: int,
        hfov_deg: float = 90.0,
        camera_height: float = 1.25,
        device: str = "cpu",
    ) -> None:
        if not isinstance(resolution, (int, np.integer)) or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
            raise ValueError(
                f"resolution={resolution!r} is unsupported; use a square side (int) between "
                f"{MIN_RESOLUTION} and {MAX_RESOLUTION}, e.g. 64, 128 or 256"
            )
        if not 0.0 < hfov_deg < 180.0:
            raise ValueError(f"hfov_deg={hfov_deg} must be strictly between 0 and 180 degrees")
        if device not in DEVICES:
            raise ValueError(f"device={device!r} is unknown; use one of {DEVICES}")
        self.resolution = int(resolution)
        self.hfov_deg = float(hfov_deg)
        self.device = device
        self.num_buildings = len(buildings)
        self.packed = pack_buildings(buildings, camera_height)
        self.camera = camera_tables(self.resolution, self.hfov_deg, camera_height)
        self._torch = None
        if device != "cpu":
            from envs.embedded.render_torch import TorchRenderer  # torch only when asked for

            self._torch = TorchRenderer(self.packed, buildings, self.camera, device)

    def render(
        self,
        building_idx: np.ndarray,
        positions: np.ndarray,
        headings: np.ndarray,
        sensors: tuple[str, ...] = ("rgb",),
    ) -> dict[str, np.ndarray]:
        """Render ``sensors`` for agents at ``positions float[N,2]`` facing ``headings float[N]`` as numpy arrays."""
        idx, pos, head, sensors = self._validate(building_idx, positions, headings, sensors)
        if self._torch is None:
            return render_numba(self.packed, idx, pos, head, self.camera, sensors)
        return {name: t.cpu().numpy() for name, t in self._torch.render(idx, pos, head, sensors).items()}

    def render_torch(
        self,
        building_idx: np.ndarray,
        positions: np.ndarray,
        headings: np.ndarray,
        sensors: tuple[str, ...] = ("rgb",),
    ) -> dict:
        """Like `render` but returns torch tensors (on the render device for torch kernels: no GPU->CPU copy)."""
        import torch

        idx, pos, head, sensors = self._validate(building_idx, positions, headings, sensors)
        if self._torch is None:
            return {k: torch.from_numpy(v) for k, v in render_numba(self.packed, idx, pos, head, self.camera, sensors).items()}
        return self._torch.render(idx, pos, head, sensors)

    def _validate(self, building_idx, positions, headings, sensors):
        """Check shapes, ranges and sensor names; return contiguous int64/float64 arrays and a sensor tuple."""
        if isinstance(sensors, str):
            sensors = (sensors,)
        sensors = tuple(sensors)
        unknown = [s for s in sensors if s not in SENSORS]
        if unknown:
            raise ValueError(f"unknown sensors {unknown}; choose from {SENSORS}")
        idx = np.ascontiguousarray(building_idx, dtype=np.int64).reshape(-1)
        pos = np.ascontiguousarray(positions, dtype=np.float64)
        head = np.ascontiguousarray(headings, dtype=np.float64).reshape(-1)
        n = idx.shape[0]
        if pos.shape != (n, 2) or head.shape != (n,):
            raise ValueError(
                f"expected building_idx[N], positions[N, 2], headings[N]; got {np.shape(building_idx)}, "
                f"{np.shape(positions)}, {np.shape(headings)}"
            )
        if n and (idx.min() < 0 or idx.max() >= self.num_buildings):
            raise ValueError(f"building index out of range: got {idx.min()}..{idx.max()}, have {self.num_buildings} buildings")
        if not (np.isfinite(pos).all() and np.isfinite(head).all()):
            raise ValueError("positions and headings must be finite")
        extent = self.packed.dims[idx][:, ::-1] * self.packed.cell_sizes[idx][:, None]  # (x, y) size in metres
        outside = ((pos < 0) | (pos >= extent)).any(axis=1)
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            raise ValueError(f"agent {k} at {pos[k].tolist()} is outside its building (0..{extent[k].tolist()} m)")
        return idx, pos, head, sensors
