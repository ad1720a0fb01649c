"""The embedded backend: N agents in procedurally generated buildings, stepped and queried in batch.

State lives in flat arrays (positions, headings, building index, goal); per-agent distance fields are copied
into padded per-env slots on reset so that motion, geodesic distance and the expert are single numba calls.
Rendering is delegated to ``envs.embedded.renderer.Renderer`` (created on first use).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from envs.backend import Action, StepResult
from envs.config import EnvConfig
from envs.embedded.catalogue import building_names, get_building, get_nav_grid
from envs.embedded.episode_gen import building_of, buildings_in_split
from envs.embedded.motion import move_forward_batch, turn
from envs.embedded.navigation import OFFSETS, FieldCache, expert_batch, geodesic_batch
from envs.episodes import Episode

EXPERT_LOOKAHEAD = 1.5  # metres of optimal path the expert may aim across when it is in view


class EmbeddedBackend:
    """``envs.backend.Backend`` over the buildings of ``config.split`` (or ``config.buildings``)."""

    def __init__(self, config: EnvConfig, num_envs: int, field_cache_size: int = 256) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.config = config
        self.num_envs = num_envs
        self.forward_step = float(config.forward_step)
        self.turn_angle = math.radians(config.turn_angle_deg)
        # env.buildings may list buildings of several splits (training and evaluation): this split's are served
        self.names = (
            buildings_in_split(config, config.split) if config.buildings else building_names(config.split, config)
        )
        self.index = {name: k for k, name in enumerate(self.names)}
        self.buildings = [get_building(n, config) for n in self.names]
        grids = [get_nav_grid(n, config) for n in self.names]
        self.cell = grids[0].cell_size
        h = max(g.navigable.shape[0] for g in grids)
        w = max(g.navigable.shape[1] for g in grids)
        self._navs = np.zeros((len(grids), h, w), np.bool_)
        for k, g in enumerate(grids):
            self._navs[k, : g.navigable.shape[0], : g.navigable.shape[1]] = g.navigable
        self._grids = grids
        self._fields = np.full((num_envs, h, w), np.inf, np.float32)
        self._parents = np.full((num_envs, h, w), -1, np.int8)
        self.field_cache = FieldCache(field_cache_size)
        self.positions = np.zeros((num_envs, 2), np.float64)
        self.headings = np.zeros(num_envs, np.float64)
        self.goals = np.zeros((num_envs, 2), np.float64)
        self.building_idx = np.zeros(num_envs, np.int32)
        self._ready = np.zeros(num_envs, bool)
        self._collided = np.zeros(num_envs, bool)
        self._geo = np.empty(num_envs, np.float64)
        self._renderer = None

    def reset(self, env_ids: np.ndarray, episodes: list[Episode]) -> None:
        """Place agents ``env_ids[i]`` at the start of ``episodes[i]``."""
        env_ids = np.asarray(env_ids, np.int64).reshape(-1)
        if len(env_ids) != len(episodes):
            raise ValueError(
                f"reset got {len(env_ids)} env ids but {len(episodes)} episodes; pass one episode per env id"
            )
        buildings = []
        for env, ep in zip(env_ids, episodes, strict=False):
            if not 0 <= env < self.num_envs:
                raise ValueError(f"env id {env} out of range [0, {self.num_envs})")
            name = building_of(ep)
            if name not in self.index:
                raise ValueError(
                    f"episode {ep.episode_id} is in building {name!r}, not among this backend's "
                    f"{self.config.split} buildings; build the backend with the episode's split (env.split)"
                )
            buildings.append(self.index[name])
        fields = self.field_cache.get_many(
            [self.names[b] for b in buildings], [self._grids[b] for b in buildings], [ep.goal_xy for ep in episodes]
        )
        for env, ep, b, field in zip(env_ids, episodes, buildings, fields, strict=False):
            fh, fw = field.distance.shape
            self._fields[env] = np.inf
            self._fields[env, :fh, :fw] = field.distance
            self._parents[env, :fh, :fw] = field.parent
            self.building_idx[env] = b
            self.positions[env] = ep.start_xy
            self.headings[env] = ep.start_heading
            self.goals[env] = ep.goal_xy
            self._ready[env] = True

    def _check_ready(self, rows: np.ndarray | slice = slice(None)) -> None:
        ids = np.arange(self.num_envs)[rows]
        never_reset = ids[~self._ready[ids]]
        if never_reset.size:
            raise RuntimeError(f"envs {never_reset.tolist()} were never reset; call reset() first")

    def step(self, actions: np.ndarray) -> StepResult:
        """Apply MOVE_FORWARD / TURN_LEFT / TURN_RIGHT (STOP leaves the agent in place)."""
        self._check_ready()
        actions = np.asarray(actions).reshape(-1)
        if actions.shape[0] != self.num_envs:
            raise ValueError(f"step got {actions.shape[0]} actions for {self.num_envs} envs")
        if actions.dtype.kind not in "iu" or actions.min() < 0 or actions.max() > 3:
            raise ValueError(
                f"actions must be integers in [0, 3] (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT); got {actions}"
            )
        move_forward_batch(
            self._navs,
            self.building_idx,
            self.positions,
            self.headings,
            actions == Action.MOVE_FORWARD,
            self.forward_step,
            self.cell,
            self._collided,
        )
        direction = (actions == Action.TURN_LEFT).astype(np.float64) - (actions == Action.TURN_RIGHT)
        if direction.any():
            turn(self.headings, direction, self.turn_angle)
        return StepResult(collided=self._collided.copy())

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``positions float64[N, 2]`` and ``headings float64[N]``."""
        return self.positions.copy(), self.headings.copy()

    def geodesic_distance(self) -> np.ndarray:
        """Geodesic distance ``float64[N]`` from each agent to its goal (inf if cut off)."""
        self._check_ready()
        geodesic_batch(self._fields, self.positions, self.goals, self.cell, self._geo)
        return self._geo.copy()

    def expert_action(self, goal_radius: float) -> np.ndarray:
        """The shortest-path expert's next action ``int64[N]``."""
        self._check_ready()
        out = np.empty(self.num_envs, np.int64)
        expert_batch(
            self._navs,
            self.building_idx,
            self._fields,
            self._parents,
            self.positions,
            self.headings,
            self.goals,
            self.cell,
            float(goal_radius),
            self.turn_angle,
            EXPERT_LOOKAHEAD,
            OFFSETS,
            out,
        )
        return out

    def render(self, sensors: tuple[str, ...] = ("rgb",), env_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Render the requested sensors for all agents, or only for ``env_ids`` (see ``envs.embedded.renderer``)."""
        rows = self._rows(env_ids)
        self._check_ready(rows)
        if env_ids is None:
            return self.renderer.render(self.building_idx, self.positions, self.headings, sensors=tuple(sensors))
        idx, pos, head = self.building_idx[rows], self.positions[rows], self.headings[rows]
        return self.renderer.render(idx, pos, head, sensors=tuple(sensors))

    @property
    def renderer(self) -> Any:
        """The renderer of this backend's buildings, made on first use (numba kernels compile then)."""
        if self._renderer is None:
            from envs.embedded.renderer import make_renderer

            self._renderer = make_renderer(self.names, self.config)
        return self._renderer

    def render_torch(self, sensors: tuple[str, ...] = ("rgb",), env_ids: np.ndarray | None = None) -> dict[str, Any]:
        """`render` as torch tensors on the render device (torch kernels: no copy to the host), for the
        device-resident rollout."""
        rows = self._rows(env_ids)
        self._check_ready(rows)
        idx, pos, head = self.building_idx[rows], self.positions[rows], self.headings[rows]
        return self.renderer.render_torch(idx, pos, head, tuple(sensors))

    def _rows(self, env_ids: np.ndarray | None) -> np.ndarray | slice:
        """``env_ids`` as a validated int64 index array (all rows when None)."""
        if env_ids is None:
            return slice(None)
        ids = np.asarray(env_ids)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise ValueError(f"env_ids must be a 1-D integer array of env ids; got {env_ids!r}")
        ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_envs):
            raise ValueError(f"env_ids {ids.tolist()} out of range [0, {self.num_envs})")
        return ids

    def close(self) -> None:
        """Drop the renderer and the field slots."""
        self._renderer = None
        self.field_cache = FieldCache(0)
