"""Habitat backend without habitat-sim: episode sets (both PointNav v1 layouts), scene paths, the missing-habitat
error and normals from depth. The backend itself runs on the real simulator in tests/test_habitat_sim.py."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.config import ConfigError, EnvConfig
from envs.episodes import Episode, EpisodeFileError, heading_to_quaternion, save_episodes, xy_to_habitat
from envs.habitat import (
    BackendUnavailableError,
    HabitatBackend,
    SceneNotFoundError,
    load_habitat_episodes,
    resolve_scene_path,
    scene_name,
)
from envs.habitat.normals import normals_from_depth

ROOT = Path(__file__).resolve().parents[1]


def _episode(i: int, scene: str, start=(0.0, 0.0), heading=0.0, goal=(2.0, 0.0)) -> Episode:
    return Episode(
        episode_id=str(i),
        scene_id=scene,
        start_position=xy_to_habitat(*start),
        start_rotation=heading_to_quaternion(heading),
        goal_position=xy_to_habitat(*goal),
        geodesic_distance=2.0,
    )


def _scenes(tmp_path: Path, *ids: str) -> Path:
    root = tmp_path / "scene_datasets"
    for scene_id in ids:
        (root / scene_id).parent.mkdir(parents=True, exist_ok=True)
        (root / scene_id).write_bytes(b"glb")
    return root


# --- episode sets ------------------------------------------------------------------------------------------


def test_flat_layout_and_buildings_filter(tmp_path):
    scenes = _scenes(tmp_path, "gibson/A.glb", "gibson/B.glb")
    save_episodes(tmp_path / "v1/train/train.json.gz", [_episode(0, "gibson/A.glb"), _episode(1, "gibson/B.glb")])
    cfg = EnvConfig(backend="habitat", habitat_data_path=str(tmp_path / "v1"), habitat_scenes_dir=str(scenes))
    assert [e.episode_id for e in load_habitat_episodes(cfg, "train")] == ["0", "1"]
    cfg.buildings = ["B"]
    assert [e.scene_id for e in load_habitat_episodes(cfg, "train")] == ["gibson/B.glb"]


def test_content_layout_like_gibson_release(tmp_path):
    """Gibson/HM3D: empty top-level list, episodes per scene in content/{scene}.json.gz; heldout -> val."""
    scenes = _scenes(tmp_path, "gibson/A.glb", "gibson/B.glb")
    save_episodes(tmp_path / "v1/val/val.json.gz", [])
    save_episodes(tmp_path / "v1/val/content/B.json.gz", [_episode(2, "data/scene_datasets/gibson/B.glb")])
    save_episodes(tmp_path / "v1/val/content/A.json.gz", [_episode(0, "gibson/A.glb"), _episode(1, "gibson/A.glb")])
    cfg = EnvConfig(backend="habitat", habitat_data_path=str(tmp_path / "v1"), habitat_scenes_dir=str(scenes))
    assert [e.episode_id for e in load_habitat_episodes(cfg, "heldout")] == ["0", "1", "2"]
    cfg.buildings = ["B"]
    assert [e.episode_id for e in load_habitat_episodes(cfg, "val")] == ["2"]
    cfg.buildings = ["Nowhere"]
    with pytest.raises(EpisodeFileError, match=r"Nowhere.*available: \['A', 'B'\]"):
        load_habitat_episodes(cfg, "val")


def test_data_path_template_and_missing_files(tmp_path):
    save_episodes(tmp_path / "v1/train/train.json.gz", [_episode(0, "gibson/A.glb")])
    template = str(tmp_path / "v1/{split}/{split}.json.gz")
    cfg = EnvConfig(backend="habitat", habitat_data_path=template)
    assert len(load_habitat_episodes(cfg, "train", check_scenes=False)) == 1
    with pytest.raises(EpisodeFileError, match=r"val\.json\.gz does not exist.*splits found: \['train'\]"):
        load_habitat_episodes(cfg, "val")
    with pytest.raises(ConfigError, match="habitat_data_path is not set"):
        load_habitat_episodes(EnvConfig(backend="habitat"), "train")


def test_missing_scenes_fail_at_load_with_path_and_fix(tmp_path):
    save_episodes(tmp_path / "v1/train/train.json.gz", [_episode(0, "gibson/Missing.glb")])
    cfg = EnvConfig(backend="habitat", habitat_data_path=str(tmp_path / "v1"), habitat_scenes_dir=str(tmp_path))
    with pytest.raises(SceneNotFoundError, match=r"gibson/Missing\.glb .*does not exist.*--scenes-dir"):
        load_habitat_episodes(cfg, "train")
    cfg.habitat_scenes_dir = None
    with pytest.raises(SceneNotFoundError, match="habitat_scenes_dir is not set"):
        load_habitat_episodes(cfg, "train")


def test_scene_paths_and_names(tmp_path):
    scenes = _scenes(tmp_path, "hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb")
    sid = "data/scene_datasets/hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb"
    path = resolve_scene_path(sid, scenes)
    assert path == scenes / "hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb"
    assert resolve_scene_path(str(path), None) == path  # absolute ids are used as they are
    assert scene_name(sid) == "TEEsavR23oF" and scene_name("gibson/Allensville.glb") == "Allensville"


# --- availability -------------------------------------------------------------------------------------------


def test_importing_envs_habitat_does_not_import_habitat_sim():
    code = "import sys, envs.habitat, envs.habitat.backend; assert 'habitat_sim' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_constructing_without_habitat_sim_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "habitat_sim", None)  # what an environment without habitat-sim sees
    with pytest.raises(BackendUnavailableError, match=r"conda env create -f environment\.yml"):
        HabitatBackend(EnvConfig(backend="habitat"), num_envs=2)


# --- normals from depth -------------------------------------------------------------------------------------


def test_normals_of_a_wall_and_a_floor():
    wall = normals_from_depth(np.full((16, 16), 3.0, np.float32), 90.0)
    np.testing.assert_allclose(
        wall[:, 2:-2, 2:-2], np.broadcast_to([[[0.0]], [[0.0]], [[1.0]]], (3, 12, 12)), atol=1e-5
    )
    h, size = 1.2, 32  # a horizontal camera 1.2 m above a floor: rows below the centre see y = -h
    f = (size / 2) / math.tan(math.radians(45))
    v = (np.arange(size) + 0.5 - size / 2) / f
    depth = np.where(v[:, None] > 0, h / np.maximum(v[:, None], 1e-6), np.inf) * np.ones((1, size))
    floor = normals_from_depth(depth.astype(np.float32), 90.0)
    np.testing.assert_allclose(floor[:, size // 2 + 2 : -1, 1:-1].reshape(3, -1).mean(1), [0.0, 1.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(floor[:, 0, 0], [0.0, 0.0, 1.0])  # no depth: the default normal
