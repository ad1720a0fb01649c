"""Embedded buildings exported as Habitat scenes: the stage mesh (upright, the building's geometry, textured),
the dataset config that says it is Y-up, and scripts/export_habitat_scenes.py's layout and errors.
Needs trimesh (the ``habitat`` extra), not habitat-sim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.config import EnvConfig
from envs.embedded.catalogue import building_names, get_building
from envs.embedded.episode_gen import generate_episodes

trimesh = pytest.importorskip("trimesh", reason="trimesh is not installed (pip install -e '.[habitat]')")

from envs.habitat.scene_export import (  # noqa: E402
    DATASET_CONFIG,
    building_scene,
    export_dataset,
    to_embedded_episodes,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = EnvConfig(num_train_buildings=1, num_heldout_buildings=2)


@pytest.fixture(scope="module")
def building():
    return get_building(building_names("heldout", CONFIG)[0], CONFIG)


def _faces(scene) -> tuple[np.ndarray, np.ndarray]:
    """All triangles (world frame) and their normals."""
    mesh = scene.to_mesh() if hasattr(scene, "to_mesh") else scene.dump(concatenate=True)
    return mesh.triangles, mesh.face_normals


def test_stage_is_upright_in_habitats_frame_and_covers_the_building(building):
    triangles, normals = _faces(building_scene(building))
    width, depth = building.size_m
    lo, hi = triangles.reshape(-1, 3).min(0), triangles.reshape(-1, 3).max(0)
    np.testing.assert_allclose(lo, [0.0, 0.0, -depth], atol=1e-6)  # ground (x, y) -> Habitat (x, height, -y)
    np.testing.assert_allclose(hi, [width, building.wall_height, 0.0], atol=1e-6)
    horizontal = np.abs(normals[:, 1]) > 0.99
    heights = triangles[:, :, 1].mean(1)
    assert np.all(normals[horizontal & (heights < 1e-6), 1] > 0)  # floor faces up
    assert np.all(normals[horizontal & (heights > 1.0), 1] < 0)  # ceiling faces down (recast: not walkable)
    assert np.all(np.abs(normals[~horizontal, 1]) < 1e-6)  # everything else is a vertical wall


def test_floor_is_exactly_the_free_cells(building):
    """Walkable floor only where the embedded building is free: no floor hides inside boxes or pillars."""
    triangles, normals = _faces(building_scene(building))
    floor = triangles[(normals[:, 1] > 0.99)]
    area = 0.5 * np.linalg.norm(np.cross(floor[:, 1] - floor[:, 0], floor[:, 2] - floor[:, 0]), axis=1).sum()
    free = building.walls == 0
    cell_area = building.cell_size**2
    assert area <= free.sum() * cell_area + 1e-6
    pillar_area = sum(np.pi * (r + building.cell_size) ** 2 for _, _, r, _ in building.pillars)  # cells under pillars
    assert area >= free.sum() * cell_area - pillar_area - 1e-6


def test_every_material_keeps_its_texture(building):
    scene = building_scene(building)
    used = set(np.unique(building.walls[building.walls > 0]).tolist()) | {
        building.floor_material,
        building.ceiling_material,
    }
    used |= {int(m) for m in building.pillars[:, 3]}
    names = {g.visual.material.name.split("_")[0] for g in scene.geometry.values()}
    assert names == {f"m{m}" for m in used}
    for geom in scene.geometry.values():
        image = np.asarray(geom.visual.material.baseColorTexture)
        assert image.shape == building.textures.shape[1:] and image.std() > 0  # a tile, not a flat colour
        assert geom.visual.uv.shape == (len(geom.vertices), 2)


def test_export_dataset_writes_habitats_layout_and_round_trips_episodes(tmp_path):
    from envs.habitat.episodes import load_habitat_episodes

    episodes = generate_episodes(building_names("heldout", CONFIG), 2, seed=3, config=CONFIG)
    folders = export_dataset(tmp_path, CONFIG, {"heldout": episodes})
    stages = sorted(p.name for p in (folders["scenes_dir"] / "embedded").glob("*.glb"))
    assert stages == sorted(f"{n}.glb" for n in building_names("heldout", CONFIG))
    config = json.loads((folders["scenes_dir"] / "embedded" / DATASET_CONFIG).read_text())
    assert config["stages"]["default_attributes"]["up"] == [0.0, 1.0, 0.0]  # a bare .glb would load Z-up
    cfg = EnvConfig(
        backend="habitat", habitat_data_path=str(folders["data_path"]), habitat_scenes_dir=str(folders["scenes_dir"])
    )
    loaded = load_habitat_episodes(cfg, "heldout")  # heldout -> val; every scene file checked
    assert all(ep.scene_id.startswith("embedded/") and ep.scene_id.endswith(".glb") for ep in loaded)
    assert to_embedded_episodes(loaded) == episodes
    import gzip

    record = json.loads(gzip.decompress((folders["data_path"] / "val" / "val.json.gz").read_bytes()))["episodes"][0]
    dataset_config = Path(record["scene_dataset_config"])  # habitat-lab reads it: absolute, so any folder works
    assert (
        dataset_config.is_absolute()
        and dataset_config == (folders["scenes_dir"] / "embedded" / DATASET_CONFIG).resolve()
    )
    assert record["info"]["geodesic_distance_source"] == "embedded-grid"  # not habitat-sim's navmesh distance


def test_an_export_into_a_relative_folder_names_its_scene_config_absolutely(tmp_path, monkeypatch):
    import gzip

    monkeypatch.chdir(tmp_path)
    episodes = generate_episodes(building_names("heldout", CONFIG)[:1], 1, seed=3, config=CONFIG)
    folders = export_dataset("relative_export", CONFIG, {"heldout": episodes})
    record = json.loads(gzip.decompress((folders["data_path"] / "val" / "val.json.gz").read_bytes()))["episodes"][0]
    assert Path(record["scene_dataset_config"]).is_absolute() and Path(record["scene_dataset_config"]).is_file()


def test_export_script_rejects_unknown_buildings_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "scripts/export_habitat_scenes.py", str(out), "--buildings", "Nowhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: --buildings: unknown names ['Nowhere']")
    assert not out.exists()
