"""Gymnasium ``VectorEnv`` over the batched PointNav task: one process, no subprocesses, same-step autoreset.

Same-step autoreset (``metadata['autoreset_mode'] = AutoresetMode.SAME_STEP``), as gymnasium 1.x defines it:
when env i's episode ends in a step, that step returns the *new* episode's first observation in ``obs[i]``
and its reset info at the top level of ``infos``; the finished episode's last observation is
``infos['final_obs'][i]`` and its last info (with the episode metrics) ``infos['final_info']``, each masked
by ``infos['_final_obs']`` / ``infos['_final_info']``. Every info key ``k`` has a boolean mask ``_k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.task import PointNavTask


def batch_infos(infos: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Per-env info dicts (None: no info for that env) to gymnasium's dict of arrays with ``_key`` masks."""
    n = len(infos)
    out: dict[str, Any] = {}
    for i, info in enumerate(infos):
        if not info:
            continue
        for key, value in info.items():
            if key not in out:
                if isinstance(value, (bool, np.bool_)):
                    out[key] = np.zeros(n, dtype=bool)
                elif isinstance(value, (int, np.integer)):
                    out[key] = np.zeros(n, dtype=np.int64)
                elif isinstance(value, (float, np.floating)):
                    out[key] = np.zeros(n, dtype=np.float64)
                else:
                    out[key] = np.full(n, None, dtype=object)
                out[f"_{key}"] = np.zeros(n, dtype=bool)
            out[key][i] = value
            out[f"_{key}"][i] = True
    return out


class PointNavVectorEnv(VectorEnv):
    """N PointNav envs stepped as one batch by a ``PointNavTask`` (see the module docstring)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(self, task: PointNavTask, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is unsupported; use None or 'rgb_array'")
        self.task = task
        self.num_envs = task.num_envs
        self.single_observation_space = task.observation_space
        self.single_action_space = task.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = render_mode
        self._last_obs: dict[str, np.ndarray] | None = None

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset all envs, or those in ``options['reset_mask']``; a list of seeds uses its first (one RNG)."""
        if isinstance(seed, (list, tuple)):
            seed = next((s for s in seed if s is not None), None)
        if seed is not None:
            self._np_random, self._np_random_seed = np.random.default_rng(seed), seed
        mask = (options or {}).get("reset_mask")
        env_ids = None if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
        obs = self.task.reset(env_ids, seed=seed)
        self._last_obs = obs
        ids = range(self.num_envs) if env_ids is None else env_ids
        infos = [None] * self.num_envs
        for i in ids:
            infos[i] = self.task.step_info(int(i))
        return obs, batch_infos(infos)

    def step(
        self, actions: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all envs; finished ones are reset within this step (same-step autoreset)."""
        result = self.task.step(actions, autoreset=True)
        self._last_obs = result.observations
        infos: list[dict[str, Any] | None] = list(result.infos)
        for i, reset_info in result.reset_infos.items():
            infos[i] = reset_info
        batched = batch_infos(infos)
        if result.final_observations:
            final_obs = np.full(self.num_envs, None, dtype=object)
            final_infos: list[dict[str, Any] | None] = [None] * self.num_envs
            for i, obs in result.final_observations.items():
                final_obs[i] = obs
                final_infos[i] = result.infos[i]
            done = result.done
            batched["final_obs"], batched["_final_obs"] = final_obs, done.copy()
            batched["final_info"], batched["_final_info"] = batch_infos(final_infos), done.copy()
        return result.observations, result.rewards, result.terminated, result.truncated, batched

    def render(self) -> tuple[np.ndarray, ...] | None:
        """``rgb_array``: one frame per env (first-person RGB | visited map), HWC uint8."""
        if self.render_mode is None or self._last_obs is None:
            return None
        from envs.visualize import observation_frame

        return tuple(observation_frame({k: v[i] for k, v in self._last_obs.items()}) for i in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        """Close the task and its backend."""
        self.task.close()
