"""The PointNav task, written once above any backend: actions, reward, success/SPL, observations, metrics.

``PointNavTask`` drives a batch of N agents of one ``Backend``. It hands out episodes (seeded random draws
for training, or in order for evaluation), turns policy actions into backend actions (with the paper's
auto-stop when configured), computes reward and episode metrics, and builds the observation dict
(``rgb`` [+ ``depth``/``normals``], ``map``, ``target``). It resets finished agents in the same step
when asked (the vector adapters' same-step autoreset) and keeps the finished episode's last observation.
Frame stacking is not done here: the trainers wrap the vector env in SB3's ``VecFrameStack``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.backend import Action, Backend
from envs.config import EnvConfig
from envs.egocentric import goal_vectors, visited_maps
from envs.episodes import Episode

SAMPLING_MODES = ("random", "sequential")
TARGET_MAX_DISTANCE = 1.0e4  # metres; a finite bound for the target space (buildings are far smaller)


def observation_space(config: EnvConfig) -> spaces.Dict:
    """The single-agent observation space (channel-first images) for ``config``."""
    r, m = config.resolution, config.map_size
    items: dict[str, spaces.Space] = {
        "rgb": spaces.Box(0, 255, (3, r, r), np.uint8),
        "map": spaces.Box(0, 255, (3, m, m), np.uint8),
        "target": spaces.Box(
            np.array([-1, -1, 0], np.float32), np.array([1, 1, TARGET_MAX_DISTANCE], np.float32), (3,), np.float32
        ),
    }
    if "depth" in config.sensors:
        items["depth"] = spaces.Box(0.0, np.finfo(np.float32).max, (1, r, r), np.float32)
    if "normals" in config.sensors:
        items["normals"] = spaces.Box(-1.0, 1.0, (3, r, r), np.float32)
    return spaces.Dict(items)


def action_space(config: EnvConfig) -> spaces.Discrete:
    """Discrete(4) = STOP, FORWARD, LEFT, RIGHT; with auto_stop Discrete(3) = FORWARD, LEFT, RIGHT."""
    return spaces.Discrete(3 if config.auto_stop else 4)


@dataclass
class TaskStep:
    """What one batched step produced (arrays over the N envs).

    ``observations`` are those after any autoreset; ``infos[i]`` is the info of env i's step (with the
    episode metrics when it finished); for autoreset envs ``final_observations[i]`` is the finished
    episode's last observation and ``reset_infos[i]`` the info of the new episode's start.
    """

    observations: dict[str, np.ndarray]
    rewards: np.ndarray  # float32[N]
    terminated: np.ndarray  # bool[N]
    truncated: np.ndarray  # bool[N]
    infos: list[dict[str, Any]]
    final_observations: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    reset_infos: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def done(self) -> np.ndarray:
        """terminated or truncated."""
        return self.terminated | self.truncated


def check_finite(observations: dict[str, np.ndarray]) -> None:
    """Raise a ValueError naming the key and the envs when a float observation holds NaN or inf."""
    for key, value in observations.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.isfinite(value).all():
            rows = np.flatnonzero(~np.isfinite(value.reshape(len(value), -1)).all(axis=1))
            raise ValueError(
                f"observation {key!r}: non-finite values (NaN or inf) in envs {rows.tolist()} "
                f"(the backend returned them: check its {key} output and the episodes' goals)"
            )


def _copy(value: Any) -> Any:
    """A fresh copy of a numpy array or a torch tensor (on its device)."""
    return value.clone() if hasattr(value, "clone") else np.array(value, copy=True)


def egocentric_observation(
    visited: np.ndarray,
    counts: np.ndarray,
    positions: np.ndarray,
    headings: np.ndarray,
    goals: np.ndarray,
    config: EnvConfig,
) -> dict[str, np.ndarray]:
    """The ``map`` and ``target`` observations of agents at these poses with these visited positions: the one
    assembly the task and the behaviour-cloning data (agents/trainers/bc_data.py) share."""
    target = goal_vectors(positions, headings, goals)
    target[:, 2] = np.minimum(target[:, 2], TARGET_MAX_DISTANCE)
    return {
        "map": visited_maps(visited, counts, positions, headings, goals, config.map_size, config.map_cell),
        "target": target,
    }


class PointNavTask:
    """Batched PointNav over a backend's N agents; see the module docstring and docs/task.md."""

    def __init__(
        self,
        config: EnvConfig,
        backend: Backend,
        episodes: list[Episode],
        seed: int | None = 0,
        sampling: str = "random",
    ) -> None:
        if sampling not in SAMPLING_MODES:
            raise ValueError(f"sampling={sampling!r} is unknown; use one of {SAMPLING_MODES}")
        if not episodes:
            raise ValueError("PointNavTask needs at least one episode; check the split and env.buildings")
        self.config = config
        self.backend = backend
        self.episodes = list(episodes)
        self.sampling = sampling
        self.num_envs = int(backend.num_envs)
        self.observation_space = observation_space(config)
        self.action_space = action_space(config)
        self._sensors = ("rgb",) + tuple(s for s in ("depth", "normals") if s in config.sensors)
        # Backend.render takes env_ids (subset rendering on autoreset); a backend written before the protocol
        # had it still works: the task then renders all envs and keeps the rows it needs.
        self._render_takes_env_ids = "env_ids" in inspect.signature(backend.render).parameters
        # device_observations: camera images as torch tensors on the renderer's device (the device-resident
        # rollout, agents/trainers/rollout_buffer.py); only backends with `render_torch` can
        self.device_observations = False
        self.camera_keys = self._sensors
        self._rng = np.random.default_rng(seed)
        n = self.num_envs
        self._current: list[Episode | None] = [None] * n
        self._episode_index = np.full(n, -1, dtype=np.int64)
        self._goals = np.zeros((n, 2))
        self._steps = np.zeros(n, dtype=np.int64)
        self._collisions = np.zeros(n, dtype=np.int64)
        self._path_length = np.zeros(n)
        self._episode_reward = np.zeros(n)
        self._start_distance = np.zeros(n)
        self._distance = np.zeros(n)
        self._positions = np.zeros((n, 2))
        self._headings = np.zeros(n)
        self._visited = np.zeros((n, config.max_steps + 1, 2))
        self._visited_count = np.zeros(n, dtype=np.int64)
        self._needs_reset = np.ones(n, dtype=bool)
        self._next_sequential = 0
        self.num_started = 0
        self.num_finished = 0

    # ----- episode hand-out -------------------------------------------------------------------------
    def _draw_indices(self, count: int) -> np.ndarray:
        if self.sampling == "random":
            return self._rng.integers(0, len(self.episodes), size=count)
        indices = np.arange(self._next_sequential, self._next_sequential + count)
        self._next_sequential += count
        return indices  # order numbers; the episode is episodes[index % len(episodes)]

    # ----- reset --------------------------------------------------------------------------------------
    def reset(self, env_ids: np.ndarray | None = None, seed: int | None = None) -> dict[str, np.ndarray]:
        """Start new episodes for ``env_ids`` (all when None) and return the observations of all N envs.

        ``seed`` re-seeds the random episode draws; a seeded full reset in 'sequential' mode also starts the
        episode list over (a new evaluation pass, see ``restart``). Unseeded resets continue the sequence.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if env_ids is None:
            env_ids = np.arange(self.num_envs)
            if seed is not None:
                self.restart()
        self._start_episodes(np.asarray(env_ids, dtype=np.int64))
        return self._observe()

    def use_episodes(self, episodes: list[Episode]) -> None:
        """Hand out ``episodes`` from now on, from the first (replaying one chosen episode, e.g. for a video)."""
        if not episodes:
            raise ValueError("use_episodes needs at least one episode")
        self.episodes = list(episodes)
        self.restart()

    def restart(self) -> None:
        """Start the episode sequence over and clear the started/finished counters (takes effect at the
        next episode hand-out)."""
        self._next_sequential = 0
        self.num_started = self.num_finished = 0

    def _start_episodes(self, env_ids: np.ndarray) -> None:
        if len(env_ids) == 0:
            return
        indices = self._draw_indices(len(env_ids))
        chosen = [self.episodes[int(i) % len(self.episodes)] for i in indices]
        self.backend.reset(env_ids, chosen)
        positions, headings = self.backend.poses()
        distance = self.backend.geodesic_distance()
        for env_id, _index, episode in zip(env_ids, indices, chosen, strict=False):
            self._current[env_id] = episode
            self._goals[env_id] = episode.goal_xy
        self._episode_index[env_ids] = indices
        self._steps[env_ids] = 0
        self._collisions[env_ids] = 0
        self._path_length[env_ids] = 0.0
        self._episode_reward[env_ids] = 0.0
        self._start_distance[env_ids] = distance[env_ids]
        self._distance[env_ids] = distance[env_ids]
        self._positions, self._headings = positions, headings
        self._visited[env_ids, 0] = positions[env_ids]
        self._visited_count[env_ids] = 1
        self._needs_reset[env_ids] = False
        self.num_started += len(env_ids)

    # ----- step ---------------------------------------------------------------------------------------
    def backend_actions(self, actions: np.ndarray) -> np.ndarray:
        """Validate policy actions (one integer per env: shape ``[N]``, ``[N, 1]``, or a scalar when N = 1) and
        map them to backend ``Action`` ids (auto_stop: 0..2 -> 1..3); anything else is a ValueError naming it."""
        n_actions = int(self.action_space.n)
        names = "FORWARD, LEFT, RIGHT" if self.config.auto_stop else "STOP, FORWARD, LEFT, RIGHT"
        fix = f"give one integer per env, 0..{n_actions - 1} ({names})"
        raw = np.asarray(actions)
        if raw.dtype.kind not in "iu":  # floats (3.0), booleans (True), None and strings are not actions
            raise ValueError(f"action: {actions!r} is not an integer action ({fix})")
        if raw.shape not in ((self.num_envs,), (self.num_envs, 1)) and not (raw.ndim == 0 and self.num_envs == 1):
            raise ValueError(f"action: {actions!r} has shape {raw.shape}, not ({self.num_envs},) ({fix})")
        ids = raw.reshape(self.num_envs).astype(np.int64)
        if np.any(ids < 0) or np.any(ids >= n_actions):
            raise ValueError(f"action: {raw.reshape(-1).tolist()} is out of range ({fix})")
        return ids + 1 if self.config.auto_stop else ids

    def step(self, actions: np.ndarray, autoreset: bool = True) -> TaskStep:
        """Step all N envs; with ``autoreset`` finished envs start a new episode within this step."""
        ids = self.backend_actions(actions)
        if np.any(self._needs_reset):
            stale = np.flatnonzero(self._needs_reset).tolist()
            raise RuntimeError(f"envs {stale} finished their episode; call reset() before step()")
        result = self.backend.step(ids)
        positions, headings = self.backend.poses()
        distance = self.backend.geodesic_distance()
        cfg = self.config

        stopped = distance < cfg.success_distance if cfg.auto_stop else ids == Action.STOP
        success = stopped & (distance < cfg.success_distance)
        both_finite = np.isfinite(distance) & np.isfinite(self._distance)
        progress = np.where(both_finite, self._distance - np.where(both_finite, distance, 0.0), 0.0)
        rewards = cfg.reward.progress_scale * progress + cfg.reward.slack + cfg.reward.success * success

        self._path_length += np.linalg.norm(positions - self._positions, axis=1)
        self._collisions += np.asarray(result.collided, dtype=bool)
        self._steps += 1
        self._episode_reward += rewards
        self._distance = distance
        self._positions, self._headings = positions, headings
        n = np.arange(self.num_envs)
        slot = np.minimum(self._visited_count, self._visited.shape[1] - 1)
        self._visited[n, slot] = positions
        self._visited_count = slot + 1

        terminated = stopped.astype(bool)
        truncated = (self._steps >= cfg.max_steps) & ~terminated
        done = terminated | truncated
        infos = [self.step_info(i) for i in range(self.num_envs)]
        for i in np.flatnonzero(done):
            infos[i].update(self._episode_metrics(int(i), bool(success[i])))
        self.num_finished += int(done.sum())
        self._needs_reset |= done

        observations = self._observe()
        final_observations: dict[int, dict[str, np.ndarray]] = {}
        reset_infos: dict[int, dict[str, Any]] = {}
        if autoreset and done.any():
            finished = np.flatnonzero(done)
            final_observations = {int(i): {k: _copy(v[i]) for k, v in observations.items()} for i in finished}
            self._start_episodes(finished)
            for key, rows in self._observe(finished).items():
                observations[key][finished] = rows
            reset_infos = {int(i): self.step_info(int(i)) for i in finished}
        return TaskStep(
            observations=observations,
            rewards=rewards.astype(np.float32),
            terminated=terminated,
            truncated=truncated,
            infos=infos,
            final_observations=final_observations,
            reset_infos=reset_infos,
        )

    # ----- observations, infos, metrics ---------------------------------------------------------------
    def set_device_observations(self, enabled: bool) -> None:
        """Camera images as torch tensors on the render device (True) or numpy arrays (False, the default)."""
        if enabled and not hasattr(self.backend, "render_torch"):
            raise ValueError(f"the {type(self.backend).__name__} backend cannot render to torch tensors")
        self.device_observations = bool(enabled)

    def _render(self, env_ids: np.ndarray | None) -> dict[str, np.ndarray]:
        """Camera images of all envs, or only of ``env_ids`` (``Backend.render``'s subset rendering)."""
        if self.device_observations:
            return self.backend.render_torch(self._sensors, env_ids=env_ids)
        if env_ids is None:
            return self.backend.render(self._sensors)
        if self._render_takes_env_ids:
            return self.backend.render(self._sensors, env_ids=env_ids)
        return {
            key: value[env_ids] for key, value in self.backend.render(self._sensors).items()
        }  # render without env_ids

    def _observe(self, env_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Fresh observation arrays for all N envs, or the rows of ``env_ids`` (never the backend's buffers)."""
        rows = slice(None) if env_ids is None else env_ids
        rendered = self._render(env_ids)
        obs = {key: _copy(rendered[key]) for key in self._sensors}
        obs.update(
            egocentric_observation(
                self._visited[rows],
                self._visited_count[rows],
                self._positions[rows],
                self._headings[rows],
                self._goals[rows],
                self.config,
            )
        )
        check_finite(obs)
        return obs

    def step_info(self, env_id: int) -> dict[str, Any]:
        """The info every step carries: building, episode id, distance to goal, collisions so far."""
        episode = self._current[env_id]
        return {
            "building": episode.scene_id if episode else "",
            "episode_id": episode.episode_id if episode else "",
            "distance_to_goal": float(self._distance[env_id]),
            "collisions": int(self._collisions[env_id]),
        }

    def _episode_metrics(self, env_id: int, success: bool) -> dict[str, Any]:
        start, length = self._start_distance[env_id], self._path_length[env_id]
        spl = float(start / max(start, length)) if success and np.isfinite(start) and start > 0 else 0.0
        return {
            "success": float(success),
            "spl": spl,
            "path_length": float(length),
            "steps": int(self._steps[env_id]),
            "episode_reward": float(self._episode_reward[env_id]),
            "start_distance": float(start),
            "episode_index": int(self._episode_index[env_id]),
        }

    # ----- helpers for experts, evaluation and videos -------------------------------------------------
    def expert_actions(self) -> np.ndarray:
        """The backend's shortest-path expert as policy actions ``int64[N]`` (auto_stop: STOP never occurs
        before the env stops itself, and is mapped to FORWARD)."""
        ids = np.asarray(self.backend.expert_action(self.config.success_distance), dtype=np.int64)
        return np.maximum(ids - 1, 0) if self.config.auto_stop else ids

    def elapsed_steps(self) -> np.ndarray:
        """Steps taken by each env in its current episode ``int64[N]``."""
        return self._steps.copy()

    def current_episodes(self) -> list[Episode | None]:
        """The episode each env is in (None before the first reset)."""
        return list(self._current)

    def episode_indices(self) -> np.ndarray:
        """Hand-out order number of each env's episode (sequential mode: ``episodes[index % len]``)."""
        return self._episode_index.copy()

    def visited_path(self, env_id: int) -> np.ndarray:
        """Positions ``float64[k, 2]`` env ``env_id`` has visited in its current episode, start first."""
        return self._visited[env_id, : self._visited_count[env_id]].copy()

    def goal(self, env_id: int) -> np.ndarray:
        """Goal position ``(x, y)`` of env ``env_id``."""
        return self._goals[env_id].copy()

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()
