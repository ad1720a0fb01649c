"""Linear probes (agents/evaluation/probe.py): targets, building split, ridge with a validation-chosen strength."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from agents.evaluation.probe import (
    base_features,
    building_split,
    free_space_ahead,
    pixel_features,
    pooled_log_depth,
    probe_bases,
    probe_targets,
    random_base,
    render_probe_frames,
    ridge_probe,
)
from envs.config import EnvConfig

ROOT = Path(__file__).resolve().parent.parent


def test_free_space_ahead_on_a_known_grid() -> None:
    navigable = np.ones((10, 40), bool)  # 0.1 m cells: 1 m x 4 m of free floor
    navigable[:, 30:] = False  # a wall from x = 3 m
    pos = np.array([[0.55, 0.55], [0.55, 0.55], [0.55, 0.55], [2.0, 0.55]])
    head = np.array([0.0, math.pi, math.pi / 2, 0.0])  # +x, -x, +y, +x
    free = free_space_ahead(navigable, 0.1, pos, head, cap=2.0, step=0.01)
    assert free == pytest.approx([2.0, 0.55, 0.45, 1.0], abs=0.011)  # capped; to x=0; to y=1; to x=3


def test_pooled_log_depth_blocks() -> None:
    depth = np.ones((2, 1, 16, 16), np.float32)
    depth[1, 0, :8, :8] = math.e  # top-left quarter of frame 1
    depth[1, 0, 8:, 8:] = 1000.0  # clipped to 20 m
    out = pooled_log_depth(depth, cells=2)
    assert out.shape == (2, 4)
    assert out[0] == pytest.approx([0, 0, 0, 0]) and out[1] == pytest.approx([1.0, 0.0, 0.0, math.log(20.0)])


def test_building_split_is_disjoint_and_complete() -> None:
    names = [f"b{i % 14}" for i in range(280)]
    train, val, test = building_split(names, seed=3)
    parts = [{names[i] for i in part} for part in (train, val, test)]
    assert [len(p) for p in parts] == [8, 3, 3] and not (
        parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]
    )
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(280))
    assert [a.tolist() for a in building_split(names, seed=3)] == [a.tolist() for a in (train, val, test)]


def test_ridge_probe_finds_a_linear_signal_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    names = [f"b{i % 14}" for i in range(700)]
    split = building_split(names, seed=0)
    x = rng.normal(size=(700, 40))
    y = x[:, :3] @ np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]]) + 0.1 * rng.normal(size=(700, 2))
    fit = ridge_probe(x, y, split)
    assert fit["r2"] > 0.98 and fit["lambda"] < 10
    noise = ridge_probe(rng.normal(size=(700, 40)), y, split)
    assert noise["r2"] < 0.05 and noise["lambda"] >= 100  # heavy shrinkage chosen: the features carry nothing


def test_probe_end_to_end_on_small_frames() -> None:
    frames = render_probe_frames(140, 32, seed=0)
    again = render_probe_frames(140, 64, seed=0)
    assert np.array_equal(frames.positions, again.positions) and frames.buildings == again.buildings  # same poses
    assert len(set(frames.buildings)) == 14 and frames.depth.shape == (140, 1, 32, 32)
    targets = probe_targets(frames, EnvConfig())
    assert targets.log_depth.shape == (140, 64) and targets.free_ahead.shape == (140, 1)
    assert (targets.free_ahead >= 0).all() and (targets.free_ahead <= 5).all() and targets.free_ahead.std() > 0.1
    assert base_features(random_base("compact", 0), frames.rgb).shape == (140, 8 * 2 * 2)
    assert pixel_features(frames.rgb).shape == (140, 192)
    rows = probe_bases(frames, ["curvature"], random_seeds=(0, 1), splits=2)
    assert [r["features_of"] for r in rows] == [
        "curvature",
        "random init (mean of 2)",
        "raw 8x8-pooled pixels",
        "random init (seed 0)",
        "random init (seed 1)",
    ]
    assert rows[1]["log_depth"]["r2"] == pytest.approx(
        np.mean([rows[3]["log_depth"]["r2"], rows[4]["log_depth"]["r2"]])
    )
    assert all(-1.0 < r["free_ahead"]["r2"] <= 1.0 for r in rows)


def test_probe_script_rejects_bad_arguments(capsys) -> None:
    from agents.commands import probe_base as module

    assert module.main(["--frames", "10"]) == 2
    assert capsys.readouterr().err.startswith("error: --frames: 10 is too few")
    assert module.main(["--resolutions", "72"]) == 2
    assert "error: --resolutions: 72 is unsupported (use a multiple of 16" in capsys.readouterr().err
