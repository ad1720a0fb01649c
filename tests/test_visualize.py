"""Episode videos and top-down maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from envs.config import EnvConfig
from envs.task import PointNavTask
from envs.testing import FakeBackend, fake_episode
from envs.visualize import GOAL_COLOUR, START_COLOUR, EpisodeVideoWriter, read_video, record_episode, top_down_map


def test_record_episode_writes_a_readable_video(tmp_path):
    config = EnvConfig(resolution=64, max_steps=12)
    task = PointNavTask(config, FakeBackend(config, 1), [fake_episode("e", (1.0, 1.0), (6.0, 6.0))], seed=0)
    path = tmp_path / "videos" / "episode.mp4"
    info = record_episode(task, lambda obs: 1, path)  # always forward: truncated after 12 steps
    assert info["steps"] == 12 and path.exists()
    # temp files renamed away; the last frame (the whole path) beside the video
    assert sorted(p.name for p in path.parent.iterdir()) == ["episode.mp4", "episode.png"]
    frames = read_video(path)
    assert len(frames) == 13  # the start plus one frame per step
    assert frames[0].shape == (64, 3 * 64, 3)  # first-person | visited map | top-down
    still = cv2.cvtColor(cv2.imread(str(path.with_suffix(".png"))), cv2.COLOR_BGR2RGB)
    assert still.shape == frames[-1].shape and np.abs(still.astype(int) - frames[-1]).mean() < 10  # mp4v is lossy


def test_writer_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "broken.mp4"
    with pytest.raises(ValueError):
        with EpisodeVideoWriter(path) as writer:
            writer.add_frame(np.zeros((32, 32, 3), np.uint8))
            writer.add_frame(np.zeros((16, 16, 3), np.uint8))  # size change
    assert list(tmp_path.iterdir()) == []


def test_top_down_map_draws_plan_start_and_goal():
    walls = np.zeros((20, 20), np.uint8)
    walls[0, :] = walls[-1, :] = walls[:, 0] = walls[:, -1] = 1
    path = np.array([[1.0, 1.0], [2.0, 1.0], [2.0, 3.0]])
    image = top_down_map(path, (4.0, 4.0), heading=0.0, walls=walls, cell_size=0.25, size=100)
    assert image.shape == (100, 100, 3)
    assert image[0, 50].tolist() == [70, 70, 70]  # the wall along y = 5 m is drawn at the top
    start_px = image[100 - 1 - 20, 20]  # (1, 1) m at 20 px per metre, +y up
    assert start_px.tolist() == list(START_COLOUR)
    assert image[100 - 1 - 80, 80].tolist() == list(GOAL_COLOUR)
    with pytest.raises(ValueError, match="cell_size"):
        top_down_map(path, (4.0, 4.0), walls=walls)
