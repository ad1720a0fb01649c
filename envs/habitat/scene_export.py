"""Embedded buildings as Habitat scenes: a textured glTF-binary stage per building plus the dataset config.

The stage is the building the embedded backend sees: the floor (free cells only, so no walkable floor hides
inside a box or pillar), one ceiling, the exposed faces of every obstacle cell (runs of equal-material faces
merged into one quad) and the round pillars as 32-sided cylinders. It is written Y-up in Habitat's frame
(``envs.episodes.xy_to_habitat``: ground point (x, y) -> (x, height, -y)), so embedded episodes need no
conversion; the scene dataset config tells habitat-sim that the stage is Y-up (a bare ``.glb`` would be
loaded Z-up). Each material keeps its texture tile (one tile per ``texture_scale`` metres, repeated), with the
embedded renderer's orientation shading baked in, because habitat-sim draws stages unlit by default.
Meshes are built and written with trimesh (the ``habitat`` extra); this module never imports habitat_sim.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic_io import atomic_write_bytes
from envs.config import EnvConfig
from envs.embedded.catalogue import get_building
from envs.embedded.episode_gen import building_of
from envs.embedded.episode_gen import scene_id as embedded_scene_id
from envs.embedded.render_cpu import CEILING_FACTOR, FLOOR_FACTOR, LIGHT_X, LIGHT_Y, WALL_AMBIENT, WALL_DIFFUSE
from envs.embedded.world import Building
from envs.episodes import GEODESIC_SOURCE_KEY, Episode, save_episodes
from envs.habitat.availability import BackendUnavailableError
from envs.habitat.episodes import habitat_split_name, scene_name

DATASET_NAME = "embedded"  # folder under scene_datasets/ and prefix of the scene ids
SCENES_SUBDIR = "scene_datasets"  # Habitat's data layout under an export folder: scenes ...
EPISODES_SUBDIR = f"datasets/pointnav/{DATASET_NAME}/v1"  # ... and PointNav v1 episodes ({split}/{split}.json.gz)
DATASET_CONFIG = f"{DATASET_NAME}.scene_dataset_config.json"
PILLAR_SEGMENTS = 32
HABITAT_UP, HABITAT_FRONT = [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]


def scene_file(name: str) -> str:
    """The stage file name of building ``name`` (``Name.glb``)."""
    return f"{name}.glb"


def habitat_scene_id(name: str) -> str:
    """The episode ``scene_id`` of an exported building, relative to ``scene_datasets/``."""
    return f"{DATASET_NAME}/{scene_file(name)}"


def require_trimesh() -> Any:
    """Import and return trimesh (the ``habitat`` extra), or raise BackendUnavailableError saying how to install it."""
    try:
        import trimesh
    except ImportError as err:
        raise BackendUnavailableError(f"trimesh: not installed ({err}) (pip install -e '.[habitat]')") from err
    return trimesh


def _to_habitat(x: np.ndarray, y: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Ground-plane points and heights ``[K]`` to Habitat vertices ``[K, 3]`` (Y up, -Z = ground +y)."""
    return np.stack([x, height, -y], axis=1).astype(np.float64)


class _Parts:
    """Quads grouped by (material, shade), accumulated as vertices, UVs and triangle indices."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, float], tuple[list, list, list]] = {}

    def quad(self, key: tuple[int, float], corners: np.ndarray, uv: np.ndarray) -> None:
        """Add a quad (corners ``[4, 3]`` counter-clockwise seen from the side it faces)."""
        verts, uvs, faces = self.groups.setdefault(key, ([], [], []))
        base = sum(len(v) for v in verts)
        verts.append(corners)
        uvs.append(uv)
        faces.append(np.array([[0, 1, 2], [0, 2, 3]]) + base)


def _wall_shade(nx: float, ny: float) -> float:
    """The embedded renderer's orientation factor of a wall facing ground direction (nx, ny)."""
    return WALL_AMBIENT + WALL_DIFFUSE * abs(nx * LIGHT_X + ny * LIGHT_Y)


def _runs(mask: np.ndarray, labels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Runs along each row of ``mask``: (row, start, stop, label) with equal labels."""
    out = []
    for r in range(mask.shape[0]):
        c, n = 0, mask.shape[1]
        row, lab = mask[r], labels[r]
        while c < n:
            if not row[c]:
                c += 1
                continue
            s = c
            while c < n and row[c] and lab[c] == lab[s]:
                c += 1
            out.append((r, s, c, int(lab[s])))
    return out


def _add_walls(parts: _Parts, b: Building) -> None:
    """Exposed faces of obstacle cells: each side where the neighbour is free (or outside the grid)."""
    cell, top, scale = b.cell_size, b.wall_height, b.texture_scale
    solid = b.walls != 0
    padded = np.pad(solid, 1, constant_values=False)
    # face normal (nx, ny) on the ground plane -> neighbour offset in (row i ~ y, col j ~ x)
    for nx, ny in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        neighbour = padded[1 + ny : 1 + ny + solid.shape[0], 1 + nx : 1 + nx + solid.shape[1]]
        exposed = solid & ~neighbour
        shade = _wall_shade(nx, ny)
        if nx != 0:  # faces at constant x: runs go along y (down the columns)
            for j, s, e, m in _runs(exposed.T, b.walls.T):
                x = (j + (1 if nx > 0 else 0)) * cell
                y0, y1 = s * cell, e * cell
                ya, yb = (y0, y1) if nx > 0 else (y1, y0)  # counter-clockwise seen from outside
                _wall_quad(parts, (m, shade), x, ya, x, yb, top, scale)
        else:  # faces at constant y: runs go along x (along the rows)
            for i, s, e, m in _runs(exposed, b.walls):
                y = (i + (1 if ny > 0 else 0)) * cell
                x0, x1 = s * cell, e * cell
                xa, xb = (x1, x0) if ny > 0 else (x0, x1)
                _wall_quad(parts, (m, shade), xa, y, xb, y, top, scale)


def _wall_quad(parts: _Parts, key, xa: float, ya: float, xb: float, yb: float, top: float, scale: float) -> None:
    """A full-height vertical quad from ground point a to b; u runs along the wall, v down from the top."""
    corners = _to_habitat(np.array([xa, xb, xb, xa]), np.array([ya, yb, yb, ya]), np.array([0.0, 0.0, top, top]))
    ua, ub = (ya, yb) if xa == xb else (xa, xb)  # the embedded renderer's u: the coordinate along the wall
    uv = np.array([[ua, top], [ub, top], [ub, 0.0], [ua, 0.0]]) / scale
    parts.quad(key, corners, uv)


def _free_floor(b: Building) -> np.ndarray:
    """Cells with walkable floor: not an obstacle and centre outside every pillar."""
    h, w = b.walls.shape
    free = b.walls == 0
    yc, xc = (np.mgrid[0:h, 0:w] + 0.5) * b.cell_size
    for cx, cy, r, _ in b.pillars:
        free &= (xc - cx) ** 2 + (yc - cy) ** 2 > r * r
    return free


def _add_floor_and_ceiling(parts: _Parts, b: Building) -> None:
    """Floor quads over runs of free cells (facing up) and one ceiling quad over the building (facing down)."""
    cell, scale = b.cell_size, b.texture_scale
    free = _free_floor(b)
    for i, s, e, _ in _runs(free, np.zeros_like(b.walls)):
        x0, x1, y0, y1 = s * cell, e * cell, i * cell, (i + 1) * cell
        xs, ys = np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1])
        parts.quad((b.floor_material, FLOOR_FACTOR), _to_habitat(xs, ys, np.zeros(4)), np.stack([xs, ys], 1) / scale)
    width, depth = b.size_m
    xs, ys = np.array([0.0, 0.0, width, width]), np.array([0.0, depth, depth, 0.0])
    corners = _to_habitat(xs, ys, np.full(4, b.wall_height))
    parts.quad((b.ceiling_material, CEILING_FACTOR), corners, np.stack([xs, ys], 1) / scale)


def _add_pillars(parts: _Parts, b: Building) -> None:
    """Each round pillar as a cylinder side; u is arc length (as the embedded renderer), v down from the top."""
    shade = WALL_AMBIENT + WALL_DIFFUSE * 2.0 / math.pi  # the mean of the orientation factor around a circle
    top, scale = b.wall_height, b.texture_scale
    angles = np.linspace(-math.pi, math.pi, PILLAR_SEGMENTS + 1)
    for cx, cy, r, m in b.pillars:
        for a0, a1 in zip(angles[:-1], angles[1:], strict=False):
            xs = np.array([cx + r * math.cos(a0), cx + r * math.cos(a1)])
            ys = np.array([cy + r * math.sin(a0), cy + r * math.sin(a1)])
            corners = _to_habitat(xs[[0, 1, 1, 0]], ys[[0, 1, 1, 0]], np.array([0.0, 0.0, top, top]))
            u0, u1 = (a0 + math.pi) * r, (a1 + math.pi) * r
            parts.quad((int(m), shade), corners, np.array([[u0, top], [u1, top], [u1, 0.0], [u0, 0.0]]) / scale)


def building_scene(b: Building) -> Any:
    """The building as a ``trimesh.Scene``: one textured mesh per (material, shade), Habitat frame (Y up)."""
    trimesh = require_trimesh()
    from PIL import Image

    parts = _Parts()
    _add_floor_and_ceiling(parts, b)
    _add_walls(parts, b)
    _add_pillars(parts, b)
    scene = trimesh.Scene()
    for (material, shade), (verts, uvs, faces) in sorted(parts.groups.items()):
        texture = np.clip(b.textures[material].astype(np.float32) * shade, 0, 255).astype(np.uint8)
        pbr = trimesh.visual.material.PBRMaterial(
            name=f"m{material}_s{shade:.3f}",
            baseColorTexture=Image.fromarray(texture),
            metallicFactor=0.0,
            roughnessFactor=1.0,
            doubleSided=True,
        )
        mesh = trimesh.Trimesh(
            vertices=np.concatenate(verts),
            faces=np.concatenate(faces),
            visual=trimesh.visual.TextureVisuals(uv=np.concatenate(uvs), material=pbr),
            process=False,
        )
        scene.add_geometry(mesh, geom_name=f"{b.name}_m{material}_s{shade:.3f}")
    return scene


def export_building(b: Building, scenes_dir: str | os.PathLike) -> Path:
    """Write ``scenes_dir/embedded/<Name>.glb`` (and the dataset config beside it); returns the stage path."""
    folder = Path(scenes_dir) / DATASET_NAME
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset_config(folder)
    path = folder / scene_file(b.name)
    atomic_write_bytes(path, building_scene(b).export(file_type="glb"))
    return path


def dataset_config() -> dict[str, Any]:
    """The scene dataset config: every ``.glb`` stage in this folder is Y-up, front -Z, metres, unlit."""
    return {
        "stages": {
            "default_attributes": {
                "up": HABITAT_UP,
                "front": HABITAT_FRONT,
                "origin": [0.0, 0.0, 0.0],
                "units_to_meters": 1.0,
                "requires_lighting": False,
            }
        }
    }


def write_dataset_config(folder: str | os.PathLike) -> Path:
    """Write ``embedded.scene_dataset_config.json`` into ``folder``; returns its path."""
    path = Path(folder) / DATASET_CONFIG
    atomic_write_bytes(path, (json.dumps(dataset_config(), indent=2) + "\n").encode())
    return path


def to_habitat_episodes(episodes: list[Episode]) -> list[Episode]:
    """Embedded episodes with the scene ids of their exported stages (poses are already Habitat's)."""
    return [dataclasses.replace(ep, scene_id=habitat_scene_id(building_of(ep))) for ep in episodes]


def to_embedded_episodes(episodes: list[Episode]) -> list[Episode]:
    """Episodes on exported stages back on the embedded buildings they came from."""
    return [dataclasses.replace(ep, scene_id=embedded_scene_id(scene_name(ep.scene_id))) for ep in episodes]


def export_dataset(
    out_dir: str | os.PathLike, config: EnvConfig, episodes: dict[str, list[Episode]], snap: bool = False
) -> dict[str, Path]:
    """Write the buildings of ``episodes`` (split -> embedded episodes) and the episode sets in Habitat's
    layout under ``out_dir``; returns the two folders to pass as ``--scenes-dir`` and ``--data-path``.

    ``snap`` (needs habitat-sim) writes starts and goals on the navmesh stock habitat-lab computes
    (``envs.habitat.navmesh_snap``); without it they are floor points, which only the toolkit's backend accepts."""
    out = Path(out_dir)
    scenes, data = out / SCENES_SUBDIR, out / EPISODES_SUBDIR
    names = sorted({building_of(ep) for split_episodes in episodes.values() for ep in split_episodes})
    paths = {habitat_scene_id(name): export_building(get_building(name, config), scenes) for name in names}
    habitat_episodes = {split: to_habitat_episodes(eps) for split, eps in episodes.items()}
    if snap:
        from envs.habitat.availability import require_habitat_sim
        from envs.habitat.navmesh_snap import snap_episodes

        habitat_sim = require_habitat_sim()
        habitat_episodes = {  # habitat-sim's own geodesic distances, labelled so
            split: snap_episodes(habitat_sim, config, eps, paths) for split, eps in habitat_episodes.items()
        }
    else:  # the embedded grid's geodesic distances (a few % off habitat-sim's navmesh), labelled so
        habitat_episodes = {
            split: [dataclasses.replace(ep, info={**ep.info, GEODESIC_SOURCE_KEY: "embedded-grid"}) for ep in eps]
            for split, eps in habitat_episodes.items()
        }
    # habitat-lab loads the stage with the config its episodes name: an absolute path, so the export works from
    # any working folder
    dataset_config = {"scene_dataset_config": str((scenes / DATASET_NAME / DATASET_CONFIG).resolve())}
    for split, split_episodes in habitat_episodes.items():
        folder = habitat_split_name(split)
        save_episodes(data / folder / f"{folder}.json.gz", split_episodes, extra=dataset_config)
    return {"scenes_dir": scenes, "data_path": data}
