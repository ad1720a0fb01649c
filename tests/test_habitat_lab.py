"""Stock habitat-lab (0.3.3, no patch, its default navmesh settings) on exported buildings.

habitat-lab recomputes every navmesh with cell height 0.2 m, so it lies 0.2 m above the floor; the exporter writes
starts and goals snapped onto that navmesh (envs/habitat/navmesh_snap.py). Here habitat-lab's own PointNav
(``habitat.Env``), its ``ShortestPathFollower`` and its success measure run on a small export through
scripts/habitat_lab_check.py, the script that measures all 420 held-out episodes (docs/habitat.md).
Skipped, with the reason, without habitat-sim or habitat-lab.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import generate_episodes
from envs.episodes import load_episodes
from envs.habitat.availability import INSTALL_HINT, habitat_sim_available

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.habitat,
    pytest.mark.skipif(not habitat_sim_available(), reason=f"habitat-sim is not importable; {INSTALL_HINT}"),
    pytest.mark.skipif(importlib.util.find_spec("habitat") is None, reason="habitat-lab is not installed (setup.sh)"),
]
pytest.importorskip(
    "trimesh", reason="trimesh is not installed, so no scene can be exported (pip install -e '.[habitat]')"
)

CONFIG = EnvConfig(split="heldout", num_train_buildings=1, num_heldout_buildings=1, resolution=64)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    from envs.habitat.scene_export import export_dataset

    out = tmp_path_factory.mktemp("lab")
    episodes = generate_episodes(building_names("heldout", CONFIG), 4, seed=3, config=CONFIG)
    export_dataset(out, CONFIG, {"heldout": episodes}, snap=True)
    return out


def test_exported_points_lie_on_habitat_labs_default_navmesh_not_the_floor(export):
    from envs.habitat.scene_export import EPISODES_SUBDIR

    episodes = load_episodes(export / EPISODES_SUBDIR / "val" / "val.json.gz")
    heights = {round(p[1], 3) for ep in episodes for p in (ep.start_position, ep.goal_position)}
    assert heights and all(0.1 < h <= 0.25 for h in heights), heights  # one 0.2 m navmesh cell above y = 0


def test_exported_geodesic_distances_are_habitat_sims_own(export):
    """With habitat-sim at hand the export stores its navmesh's geodesic distances, labelled so: close to the
    embedded grid's, but not the grid's."""
    from envs.habitat.scene_export import EPISODES_SUBDIR

    stored = load_episodes(export / EPISODES_SUBDIR / "val" / "val.json.gz")
    grid = generate_episodes(building_names("heldout", CONFIG), 4, seed=3, config=CONFIG)
    assert {ep.info.get("geodesic_distance_source") for ep in stored} == {"habitat-sim"}
    pairs = [(s.geodesic_distance, g.geodesic_distance) for s, g in zip(stored, grid, strict=True)]
    assert any(s != g for s, g in pairs) and all(abs(s - g) < 0.3 * g for s, g in pairs), pairs


def test_stock_habitat_lab_expert_succeeds_on_every_exported_episode(export, tmp_path):
    out = tmp_path / "lab.json"
    proc = subprocess.run(
        [sys.executable, "scripts/habitat_lab_check.py", str(export), str(out), "--episodes", "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["episodes"]
    assert len(rows) == 4
    assert [r["success"] for r in rows] == [1.0] * 4, rows
    assert all(r["distance_to_goal"] < 0.2 <= r["start_distance"] for r in rows)
