"""Stable-Baselines3 ``VecEnv`` adapter over the batched PointNav task (one process, same-step autoreset).

SB3's conventions: ``step_wait`` returns ``(obs, rewards, dones, infos)`` with ``dones = terminated |
truncated``; when env i finishes, ``obs[i]`` is already the next episode's first observation,
``infos[i]['terminal_observation']`` the finished episode's last one, ``infos[i]['TimeLimit.truncated']``
tells a time-limit end (so PPO bootstraps the value) and ``reset_infos[i]`` holds the new episode's
first info. With the task's ``device_observations`` the camera images are torch tensors on the render device
(the device-resident rollout); terminal observations are then copied to the host for SB3. Seeds from ``seed()``
apply at the next ``reset()``; the task has one RNG, seeded with the
first seed. Episode statistics for SB3's logger come from wrapping this in ``VecMonitor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

from envs.task import PointNavTask

PER_ENV_METHODS = ("step_info", "visited_path", "goal")  # task methods whose first argument is the env id


def host_arrays(obs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Observations as numpy arrays: device-resident torch tensors (``PointNavTask.device_observations``) are
    copied to the host, numpy arrays are kept as they are."""
    return {key: value.cpu().numpy() if hasattr(value, "cpu") else value for key, value in obs.items()}


class SB3VecEnv(VecEnv):
    """N PointNav envs as one SB3 ``VecEnv``; attributes and methods are the shared task's."""

    def __init__(self, task: PointNavTask, render_mode: str | None = None) -> None:
        self.task = task
        self.render_mode = render_mode  # read back by VecEnv.__init__ through get_attr
        super().__init__(task.num_envs, task.observation_space, task.action_space)
        self._actions: np.ndarray | None = None
        self._last_obs: dict[str, np.ndarray] | None = None

    def reset(self) -> dict[str, np.ndarray]:
        """Reset every env (using the seed from ``seed()`` once, if any) and return the batch observation."""
        seed = next((s for s in self._seeds if s is not None), None)
        obs = self.task.reset(seed=seed)
        self.reset_infos = [self.task.step_info(i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        self._last_obs = obs
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions; ``step_wait`` applies them."""
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step the batch; finished envs are reset within the step (see the module docstring)."""
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        result = self.task.step(self._actions, autoreset=True)
        self._actions = None
        infos = result.infos
        for i, info in enumerate(infos):
            info["TimeLimit.truncated"] = bool(result.truncated[i] and not result.terminated[i])
        for i, final_obs in result.final_observations.items():
            infos[i]["terminal_observation"] = host_arrays(final_obs)  # SB3 reads it with numpy (one frame per end)
            self.reset_infos[i] = result.reset_infos[i]
        self._last_obs = result.observations
        return result.observations, result.rewards, result.done, infos

    def close(self) -> None:
        """Close the task and its backend."""
        self.task.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The task's attribute ``attr_name`` (shared by all envs), once per requested env."""
        value = getattr(self.task, attr_name) if hasattr(self.task, attr_name) else getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared task; it applies to every env, so ``indices`` must cover all."""
        if len(list(self._get_indices(indices))) != self.num_envs:
            raise ValueError(f"set_attr({attr_name!r}) changes the task shared by all envs; pass indices=None")
        setattr(self.task, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a task method once per env; methods in ``PER_ENV_METHODS`` receive the env id first."""
        method = getattr(self.task, method_name)
        if method_name in PER_ENV_METHODS:
            return [method(i, *method_args, **method_kwargs) for i in self._get_indices(indices)]
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrappers sit inside this batched env."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """One frame per env (first-person RGB | visited map), HWC uint8; None before the first reset."""
        if self._last_obs is None:
            return [None] * self.num_envs
        from envs.visualize import observation_frame

        obs = host_arrays(self._last_obs)
        return [observation_frame({k: v[i] for k, v in obs.items()}) for i in range(self.num_envs)]
