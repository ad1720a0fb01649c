"""Pictures of episodes: observation frames, a top-down map (building plan, path, start, goal), MP4 videos and
their last frames as PNGs.

All functions take channel-first observations (as the envs return them) and produce HWC RGB ``uint8``
frames; the video writer converts to BGR for OpenCV and writes atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from common.atomic_io import atomic_write_bytes

TEXT_COLOUR = (255, 255, 255)
PATH_COLOUR = (40, 110, 230)
START_COLOUR = (30, 170, 60)
GOAL_COLOUR = (220, 40, 40)
AGENT_COLOUR = (250, 200, 0)


def _hwc(image: np.ndarray) -> np.ndarray:
    """Channel-first ``[C, H, W]`` uint8 to contiguous ``[H, W, 3]``."""
    return np.ascontiguousarray(np.transpose(image[:3], (1, 2, 0)))


def _put_lines(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    scale = max(frame.shape[0] / 400.0, 0.35)
    for k, line in enumerate(lines):
        y = int((k + 1) * 22 * scale) + 4
        cv2.putText(frame, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(frame, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.6, TEXT_COLOUR, 1, cv2.LINE_AA)
    return frame


def observation_frame(obs: dict[str, np.ndarray], lines: Sequence[str] = ()) -> np.ndarray:
    """First-person RGB beside the visited map (scaled to the same height), with optional text lines."""
    rgb = _hwc(obs["rgb"])
    side = rgb.shape[0]
    visited = cv2.resize(_hwc(obs["map"]), (side, side), interpolation=cv2.INTER_NEAREST)
    return _put_lines(np.concatenate([rgb, visited], axis=1), lines)


def top_down_map(
    path: np.ndarray,
    goal: Sequence[float],
    heading: float | None = None,
    walls: np.ndarray | None = None,
    cell_size: float | None = None,
    size: int = 256,
) -> np.ndarray:
    """Top-down view ``uint8[size, size, 3]``: the building plan (if ``walls``), the path, start and goal.

    ``walls`` is a ``Building.walls`` grid (row i covers y in [i*cell, (i+1)*cell)); without it the view
    frames the path and goal with a 1 m margin. World +y is drawn upwards.
    """
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    goal_xy = np.asarray(goal, dtype=np.float64).reshape(2)
    if walls is not None:
        if cell_size is None:
            raise ValueError("top_down_map: pass cell_size (metres per wall cell) together with walls")
        h, w = walls.shape
        lo, extent = np.zeros(2), np.array([w * cell_size, h * cell_size])
    else:
        points = np.vstack([path, goal_xy[None]]) if len(path) else goal_xy[None]
        lo = points.min(axis=0) - 1.0
        extent = points.max(axis=0) + 1.0 - lo
    scale = (size - 1) / float(max(extent.max(), 1e-6))

    def pixel(xy: np.ndarray) -> np.ndarray:
        rel = (np.asarray(xy) - lo) * scale
        return np.stack([rel[..., 0], (size - 1) - rel[..., 1]], axis=-1).round().astype(np.int32)

    image = np.full((size, size, 3), 255, dtype=np.uint8)
    if walls is not None:
        plan = np.where(walls[::-1] > 0, 70, 235).astype(np.uint8)  # flip rows: +y up
        pw, ph = int(round(extent[0] * scale)) + 1, int(round(extent[1] * scale)) + 1
        plan = cv2.resize(plan, (max(pw, 1), max(ph, 1)), interpolation=cv2.INTER_NEAREST)
        plan = plan[-size:, :size]  # keep the bottom-left corner (the world origin) when rounding overshoots
        image[size - plan.shape[0] :, : plan.shape[1]] = plan[:, :, None]
    if len(path) > 1:
        cv2.polylines(image, [pixel(path).reshape(-1, 1, 2)], False, PATH_COLOUR, 2, cv2.LINE_AA)
    radius = max(size // 64, 3)
    if len(path):
        cv2.circle(image, tuple(int(v) for v in pixel(path[0])), radius, START_COLOUR, -1)
    cv2.circle(image, tuple(int(v) for v in pixel(goal_xy)), radius, GOAL_COLOUR, -1)
    if len(path) and heading is not None:
        tip = path[-1] + 0.6 * np.array([np.cos(heading), np.sin(heading)])
        cv2.arrowedLine(
            image, tuple(int(v) for v in pixel(path[-1])), tuple(int(v) for v in pixel(tip)), AGENT_COLOUR, 2
        )
    return image


def building_plan(backend: Any, env_id: int) -> tuple[np.ndarray, float] | None:
    """``(walls, cell_size)`` of the building env ``env_id`` is in, if the backend exposes it.

    Backends that can provide ``building(env_id) -> envs.embedded.world.Building`` or, like the embedded
    backend, ``buildings`` (list of Building) with ``building_idx`` (index per env); others (Habitat) give
    None and the top-down view shows the path only.
    """
    getter = getattr(backend, "building", None)
    if callable(getter):
        building = getter(env_id)
    elif hasattr(backend, "buildings") and hasattr(backend, "building_idx"):
        building = backend.buildings[int(backend.building_idx[env_id])]
    else:
        return None
    return (building.walls, float(building.cell_size)) if building is not None else None


def episode_frame(
    obs: dict[str, np.ndarray],
    info: dict[str, Any],
    step: int,
    top_down: np.ndarray | None = None,
) -> np.ndarray:
    """Video frame: first-person RGB | visited map | top-down map, with step, distance and success."""
    lines = [f"step {step}", f"dist {info.get('distance_to_goal', float('nan')):.2f} m"]
    if "success" in info:
        lines.append("SUCCESS" if info["success"] else "failed")
    frame = observation_frame(obs)
    if top_down is not None:
        side = frame.shape[0]
        frame = np.concatenate([frame, cv2.resize(top_down, (side, side), interpolation=cv2.INTER_AREA)], axis=1)
    return _put_lines(frame, lines)


class EpisodeVideoWriter:
    """Collects HWC RGB frames and writes an MP4 (``mp4v``) atomically on ``close()``.

    Use as a context manager; on an exception nothing is left at ``path``.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 10.0) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".partial.mp4", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0
        self.last_frame: np.ndarray | None = None

    def add_frame(self, frame: np.ndarray) -> None:
        """Append one ``uint8[H, W, 3]`` RGB frame (all frames must share the first one's size)."""
        frame = np.asarray(frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"video frames must be HWC RGB uint8, got shape {frame.shape}")
        if self._writer is None:
            self._size = (frame.shape[1], frame.shape[0])
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if not self._writer.isOpened():
                raise RuntimeError(
                    f"OpenCV could not open an mp4v writer for {self._tmp}; check opencv's video support"
                )
        elif (frame.shape[1], frame.shape[0]) != self._size:
            raise ValueError(
                f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's {self._size}"
            )
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1
        self.last_frame = frame

    def close(self) -> Path:
        """Finish the file and move it to ``path``; returns ``path``."""
        if self._writer is None:
            self._tmp.unlink(missing_ok=True)
            raise RuntimeError(f"no frames were added; nothing written to {self.path}")
        self._writer.release()
        self._writer = None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> EpisodeVideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_video(path: str | os.PathLike) -> list[np.ndarray]:
    """All frames of a video file as HWC RGB ``uint8`` arrays (to check or post-process what was written)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames


def _upscaled(obs: dict[str, np.ndarray], min_height: int) -> dict[str, np.ndarray]:
    """The observation with its ``rgb`` image enlarged by an integer factor to at least ``min_height`` rows."""
    height = obs["rgb"].shape[-2]
    factor = -(-min_height // height) if min_height > height else 1
    if factor == 1:
        return obs
    return {**obs, "rgb": np.repeat(np.repeat(obs["rgb"], factor, axis=-2), factor, axis=-1)}


def record_episode(
    task: Any,
    policy: Any,
    path: str | os.PathLike,
    fps: float = 10.0,
    map_size: int = 256,
    min_height: int = 0,
) -> dict[str, Any]:
    """Run env 0 of a one-env ``PointNavTask`` for one episode with ``policy(obs) -> action`` and write a
    video, and its last frame (the whole path on the top-down map) as a PNG beside it; returns the episode's final
    info (metrics). ``min_height`` upscales small camera images (nearest neighbour) in the video only, so
    low-resolution runs still give watchable videos."""
    if task.num_envs != 1:
        raise ValueError(f"record_episode needs a task with one env, got {task.num_envs}")
    obs = {k: v[0] for k, v in task.reset().items()}
    plan = building_plan(task.backend, 0)
    walls, cell = plan if plan else (None, None)
    info = task.step_info(0)
    with EpisodeVideoWriter(path, fps) as writer:
        for step in range(task.config.max_steps + 1):
            _, headings = task.backend.poses()
            view = top_down_map(task.visited_path(0), task.goal(0), float(headings[0]), walls, cell, map_size)
            writer.add_frame(episode_frame(_upscaled(obs, min_height), info, step, view))
            if "success" in info:
                break
            result = task.step(np.asarray([policy(obs)]), autoreset=False)
            obs = {k: v[0] for k, v in result.observations.items()}
            info = result.infos[0]
    write_png(Path(path).with_suffix(".png"), writer.last_frame)
    return info


def write_png(path: str | os.PathLike, frame: np.ndarray) -> Path:
    """Write an HWC RGB ``uint8`` frame as a PNG, atomically."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.asarray(frame, dtype=np.uint8), cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a PNG for {path}")
    atomic_write_bytes(path, encoded.tobytes())
    return Path(path)
