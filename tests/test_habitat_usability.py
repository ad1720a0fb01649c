"""What a Habitat user meets first: the --data-path/--scenes-dir flags, a missing scene found before a run folder
is made, data paths stored absolute (so a run evaluates from any folder), and an exporter that says which
preset's episodes it wrote and how long the whole export took. Needs trimesh, not habitat-sim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import generate_episodes

pytest.importorskip("trimesh", reason="trimesh is not installed (pip install -e '.[habitat]')")

ROOT = Path(__file__).resolve().parents[1]
SMALL = EnvConfig(num_train_buildings=1, num_heldout_buildings=1)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """A two-building export (floor points; these tests never start a simulator)."""
    from envs.habitat.scene_export import export_dataset

    out = tmp_path_factory.mktemp("usability") / "data"
    episodes = {
        split: generate_episodes(building_names(split, SMALL), 2, seed=1, config=SMALL)
        for split in ("train", "heldout")
    }
    export_dataset(out, SMALL, episodes)
    return out


def _train_ppo(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_ppo.py"), "--backend", "habitat", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_data_flags_exist_and_the_config_stores_absolute_paths(export):
    proc = _train_ppo(
        export.parent,
        "--data-path",
        "data/datasets/pointnav/embedded/v1",
        "--scenes-dir",
        "data/scene_datasets",
        "--print-config",
    )
    assert proc.returncode == 0, proc.stderr
    env = yaml.safe_load(proc.stdout)["env"]
    assert env["habitat_data_path"] == str(export / "datasets/pointnav/embedded/v1")
    assert env["habitat_scenes_dir"] == str(export / "scene_datasets")


def test_a_deleted_scene_fails_before_the_run_folder_is_made(export, tmp_path):
    from envs.habitat.scene_export import habitat_scene_id

    glb = export / "scene_datasets" / habitat_scene_id(building_names("heldout", SMALL)[0])
    moved = tmp_path / glb.name
    glb.rename(moved)
    try:
        runs = tmp_path / "runs"
        proc = _train_ppo(
            tmp_path,
            "--data-path",
            str(export / "datasets/pointnav/embedded/v1"),
            "--scenes-dir",
            str(export / "scene_datasets"),
            f"run.runs_root={runs}",
            "--frames",
            "64",
        )
    finally:
        moved.rename(glb)
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and str(glb) in line and "--scenes-dir" in line
    assert not runs.exists()


def test_default_export_uses_the_ppo_presets_episode_distribution():
    from agents.commands.export_habitat_scenes import DEFAULT_CONFIG
    from agents.run.config_loader import load_run_config, read_env_config

    assert DEFAULT_CONFIG == "ppo"
    assert read_env_config(DEFAULT_CONFIG).episodes == load_run_config("ppo").env.episodes
    assert read_env_config(DEFAULT_CONFIG).episodes.max_geodesic != EnvConfig().episodes.max_geodesic  # 6 vs 20 m


def test_exporter_names_its_preset_and_times_the_whole_export(tmp_path, capsys):
    from agents.commands.export_habitat_scenes import main

    config = tmp_path / "small.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "env": {
                    "num_train_buildings": 1,
                    "num_heldout_buildings": 1,
                    "episodes": {"per_building_train": 2, "per_building_heldout": 3, "max_geodesic": 5.0},
                }
            }
        )
    )
    main([str(tmp_path / "out"), "--config", str(config)])
    out = capsys.readouterr().out
    assert f"env: section of {config}: geodesic 1-5 m, 2 per training building, 3 per held-out building" in out
    assert "heldout: 1 buildings, 3 episodes" in out
    done = next(line for line in out.splitlines() if line.startswith("done in "))
    assert "(episodes " in done and "scenes and files" in done
