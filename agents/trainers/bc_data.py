"""Rebuild, in batches, the exact observations the env showed the expert, from stored poses.

For any stored step: ``rgb`` is re-rendered from the pose (or read from stored frames), ``map`` is drawn
from the trajectory's poses so far with the task's own ``visited_maps``, ``target`` from the pose and the
goal with ``goal_vectors``; with ``frame_stack`` k the last k observations are stacked like SB3's
``VecFrameStack`` (images on channels, vectors on the last axis, zeros before the episode's first step).
"""

from __future__ import annotations

import numpy as np

from agents.trainers.trajectories import TrajectorySet
from envs.config import EnvConfig
from envs.task import egocentric_observation


class ObservationBuilder:
    """Batched observations of a TrajectorySet as the policy saw them (same keys, dtypes and stacking)."""

    def __init__(self, data: TrajectorySet, env_cfg: EnvConfig, frame_stack: int = 1) -> None:
        self.data, self.env_cfg, self.k = data, env_cfg, int(frame_stack)
        self.traj = data.trajectory_of_step
        self.step = data.step_in_trajectory
        self._renderer = None

    @property
    def renderer(self):
        """The pose renderer over the pool's buildings (built on first use)."""
        if self._renderer is None:
            from envs.factory import make_pose_renderer

            self._renderer = make_pose_renderer(self.env_cfg, self.data.building_names)
        return self._renderer

    def rgb_frames(self, steps: np.ndarray) -> np.ndarray:
        """Single frames ``uint8[B, 3, H, W]`` of the given steps (stored, or re-rendered from the poses)."""
        d = self.data
        if d.frame_files is not None:
            return d.rgb_frames(steps)
        return self.renderer.render(
            d.buildings[self.traj[steps]], d.positions[steps], d.headings[steps], sensors=("rgb",)
        )["rgb"]

    def single(self, steps: np.ndarray, with_rgb: bool = True) -> dict[str, np.ndarray]:
        """One (unstacked) observation per step: rgb (optional), map, target."""
        d, steps = self.data, np.asarray(steps, np.int64)
        traj = self.traj[steps]
        counts = self.step[steps] + 1
        visited = np.zeros((len(steps), int(counts.max()) if len(steps) else 1, 2))
        for row, (t, c) in enumerate(zip(traj, counts, strict=False)):
            start = d.offsets[t]
            visited[row, :c] = d.positions[start : start + c]
        out = egocentric_observation(
            visited, counts, d.positions[steps], d.headings[steps], d.goals[traj], self.env_cfg
        )
        if with_rgb:
            out["rgb"] = self.rgb_frames(steps)
        return out

    def stacked_steps(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(source int64[B, k], valid bool[B, k])``: the step shown in each stack slot (oldest first) and
        whether it exists (slots before the episode start are zeros, as VecFrameStack gives after reset)."""
        steps = np.asarray(steps, np.int64)
        back = np.arange(self.k - 1, -1, -1)  # k-1, ..., 0
        valid = self.step[steps][:, None] >= back[None, :]
        return np.where(valid, steps[:, None] - back[None, :], steps[:, None]), valid

    def batch(self, steps: np.ndarray, with_rgb: bool = True) -> dict[str, np.ndarray]:
        """Observations ``{rgb [B, 3k, H, W] uint8, map [B, 3k, M, M] uint8, target [B, 3k] float32}``."""
        steps = np.asarray(steps, np.int64)
        if self.k == 1:
            return self.single(steps, with_rgb)
        source, valid = self.stacked_steps(steps)
        flat = self.single(source.reshape(-1), with_rgb)
        out = {}
        for key, value in flat.items():
            value = value * valid.reshape(-1, *([1] * (value.ndim - 1))).astype(value.dtype)
            b = len(steps)
            if value.ndim == 4:
                out[key] = value.reshape(b, self.k * value.shape[1], *value.shape[2:])
            else:
                out[key] = value.reshape(b, self.k * value.shape[1])
        return out
