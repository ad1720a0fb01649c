"""A single PointNav ``gymnasium.Env``: the batched task with N=1 (for check_env, debugging and videos).

Registered as ``SidetuneNav/PointNav-v0`` (see ``envs/__init__.py``). No autoreset: after an episode ends,
call ``reset()``. For training use the batched ``PointNavVectorEnv`` or ``SB3VecEnv`` instead.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.config import EnvConfig
from envs.task import PointNavTask


class PointNavEnv(gym.Env):
    """One PointNav agent; observations and infos as documented in docs/task.md."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        config: EnvConfig | dict[str, Any] | None = None,
        split: str | None = None,
        seed: int | None = 0,
        sampling: str = "random",
        render_mode: str | None = None,
        task: PointNavTask | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is unsupported; use None or 'rgb_array'")
        if task is None:
            from envs.factory import make_task

            if not isinstance(config, EnvConfig):
                config = EnvConfig.from_dict(config)
            task = make_task(config, num_envs=1, split=split, seed=seed, sampling=sampling)
        if task.num_envs != 1:
            raise ValueError(f"PointNavEnv needs a task with one env, got {task.num_envs}; use PointNavVectorEnv")
        self.task = task
        self.observation_space = task.observation_space
        self.action_space = task.action_space
        self.render_mode = render_mode
        self._last_obs: dict[str, np.ndarray] | None = None
        self._last_info: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new episode (``seed`` re-seeds the episode draws)."""
        super().reset(seed=seed)
        obs = self.task.reset(seed=seed)
        self._last_obs = {k: v[0] for k, v in obs.items()}
        self._last_info = self.task.step_info(0)
        return self._last_obs, dict(self._last_info)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Take one action; ``info`` has the episode metrics when the episode ends."""
        result = self.task.step(action, autoreset=False)  # the task checks it (one integer; shape () or (1,))
        self._last_obs = {k: v[0] for k, v in result.observations.items()}
        self._last_info = result.infos[0]
        return (
            self._last_obs,
            float(result.rewards[0]),
            bool(result.terminated[0]),
            bool(result.truncated[0]),
            dict(self._last_info),
        )

    def render(self) -> np.ndarray | None:
        """``rgb_array``: first-person RGB beside the visited map, with step and distance, HWC uint8."""
        if self.render_mode is None or self._last_obs is None:
            return None
        from envs.visualize import observation_frame

        info = self._last_info
        lines = [
            f"dist {info.get('distance_to_goal', float('nan')):.2f} m",
            f"step {int(self.task.elapsed_steps()[0])}",
        ]
        return observation_frame(self._last_obs, lines)

    def close(self) -> None:
        """Close the task and its backend."""
        self.task.close()
