"""Batched renderer of the embedded simulator: N agents in N (possibly different) buildings in one call.

Buildings are packed once into padded stacked arrays so a batch can mix them; the camera's per-column ray
slopes and per-row pixel heights are tabulated once. Two kernel sets sit behind one interface: numba on the
CPU (``device='cpu'``) and pure torch (``'torch-cpu'`` or ``'cuda'``); they draw the same picture.
Images are channel-first (see ``envs/backend.py``): rgb uint8[N,3,H,W], depth float32[N,1,H,W] (z-depth in
metres), normals float32[N,3,H,W] (camera frame: x right, y up, z towards the camera).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from common.config import check_resolution
from envs.embedded.render_cpu import render_numba
from envs.embedded.render_data import CameraTables, PackedBuildings, camera_tables, pack_buildings
from envs.embedded.world import Building

if TYPE_CHECKING:
    from envs.config import EnvConfig

SENSORS = ("rgb", "depth", "normals")
DEVICES = ("cpu", "torch-cpu", "cuda")

__all__ = ["CameraTables", "PackedBuildings", "Renderer", "camera_tables", "make_renderer", "pack_buildings"]


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
        check_resolution(resolution, "resolution")
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
            return {
                k: torch.from_numpy(v)
                for k, v in render_numba(self.packed, idx, pos, head, self.camera, sensors).items()
            }
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
            raise ValueError(
                f"building index out of range: got {idx.min()}..{idx.max()}, have {self.num_buildings} buildings"
            )
        if not (np.isfinite(pos).all() and np.isfinite(head).all()):
            raise ValueError("positions and headings must be finite")
        extent = self.packed.dims[idx][:, ::-1] * self.packed.cell_sizes[idx][:, None]  # (x, y) size in metres
        outside = ((pos < 0) | (pos >= extent)).any(axis=1)
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            raise ValueError(f"agent {k} at {pos[k].tolist()} is outside its building (0..{extent[k].tolist()} m)")
        return idx, pos, head, sensors


def make_renderer(names: list[str], config: EnvConfig, resolution: int | None = None) -> Renderer:
    """The renderer over the catalogue buildings ``names`` with the camera of ``config`` (the one place a
    Renderer is built: the backend, pose re-rendering and pretraining images all come through here)."""
    from envs.embedded.catalogue import get_building

    buildings = [get_building(name, config) for name in names]
    side = config.resolution if resolution is None else resolution
    return Renderer(buildings, side, config.hfov_deg, config.camera_height, config.render_device)
