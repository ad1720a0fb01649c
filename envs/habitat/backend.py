"""The habitat backend: one habitat-sim Simulator per agent of the batch, behind envs.backend.Backend.

Why habitat-sim directly and not a habitat-lab ``Env``: the PointNav task (reward, success, SPL, visited map,
goal vector) is written once above the Backend interface; a habitat-lab Env would compute its own task,
measures and sensors, and the two would drift. This backend therefore only moves agents, renders cameras and
answers geodesic queries with habitat-sim, the layer habitat-lab's ``HabitatSim`` itself wraps.

Poses are converted at this boundary (see envs.episodes): habitat (X, Y, Z) -> ground plane (X, -Z), and
heading = yaw about +Y + pi/2. habitat_sim is imported when a backend is constructed, never at module import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from envs.backend import Action, StepResult
from envs.config import EnvConfig
from envs.episodes import Episode, habitat_to_xy, quaternion_to_heading
from envs.habitat.availability import require_habitat_sim
from envs.habitat.episodes import resolve_scene_path
from envs.habitat.normals import normals_from_depth
from envs.habitat.sim_config import ACTION_NAMES, DEPTH_UUID, RGB_UUID, build_configuration, needs_depth


@dataclass
class _SceneSim:
    """One simulator in one scene, with an agent for every env of the batch; ``users`` are the envs in it now."""

    sim: Any
    path: str
    users: set[int] = field(default_factory=set)


class HabitatBackend:
    """N agents on a pool of habitat-sim simulators: env ``i`` is agent ``i`` of the simulator of its scene.

    Creating a simulator costs ~13-35 s on a CPU (a GL context and its shaders) while ``reconfigure`` to another
    scene costs ~0.1 s, so envs in the same scene share one simulator and a simulator nobody uses any more is
    reconfigured, rather than a new one made, when an env moves on. An evaluation, which hands episodes out building by
    building, then runs on two or three simulators instead of one per env; random training episodes need at
    most N.
    """

    def __init__(self, config: EnvConfig, num_envs: int) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}; use at least 1")
        self._hs: ModuleType = require_habitat_sim()  # BackendUnavailableError with install steps
        self.config = config
        self.num_envs = int(num_envs)
        self.forward_step = float(config.forward_step)
        self.turn_angle = math.radians(config.turn_angle_deg)
        self._pool: list[_SceneSim] = []  # in creation order (closed in reverse)
        self._where: list[_SceneSim | None] = [None] * self.num_envs
        self._goals: list[np.ndarray | None] = [None] * self.num_envs
        self._followers: dict[tuple[int, float], Any] = {}
        self.simulators_created = 0
        self.reconfigures = 0

    # --- episodes -------------------------------------------------------------------------------------
    def reset(self, env_ids: np.ndarray, episodes: list[Episode]) -> None:
        """Load each agent's scene if it changed, then place it at its episode's start pose."""
        env_ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        if len(env_ids) != len(episodes):
            raise ValueError(f"reset got {len(env_ids)} env ids and {len(episodes)} episodes; pass one episode per id")
        for env_id, episode in zip(env_ids.tolist(), episodes, strict=False):
            self._check_id(env_id)
            self._load_scene(env_id, episode.scene_id)
            sim = self._sim(env_id)
            state = self._hs.AgentState()
            state.position = self._on_navmesh(sim, episode.start_position)
            state.rotation = list(episode.start_rotation)  # (x, y, z, w) coefficients, as habitat-lab passes them
            sim.get_agent(env_id).set_state(state, reset_sensors=True)
            self._goals[env_id] = self._on_navmesh(sim, episode.goal_position)

    @staticmethod
    def _on_navmesh(sim: Any, position: tuple[float, float, float]) -> np.ndarray:
        """The point lifted onto the navmesh (habitat's episodes hold navmesh points; the agent is snapped there at
        its first step anyway), so geodesic distances carry no vertical floor-to-navmesh offset."""
        point = np.asarray(position, dtype=np.float32)
        snapped = np.asarray(sim.pathfinder.snap_point(point), dtype=np.float32)
        return snapped if np.isfinite(snapped).all() else point

    def _load_scene(self, env_id: int, scene_id: str) -> None:
        """Put env ``env_id`` in the simulator of its scene: the one already there, else an idle one
        reconfigured, else a new one."""
        path = str(resolve_scene_path(scene_id, self.config.habitat_scenes_dir))
        current = self._where[env_id]
        if current is not None and current.path == path:
            return
        if current is not None:
            current.users.discard(env_id)
        for key in [k for k in self._followers if k[0] == env_id]:  # followers hold an agent of the one it leaves
            del self._followers[key]
        target = next((s for s in self._pool if s.path == path), None)
        if target is None:
            cfg = build_configuration(
                self._hs, self.config, path, seed=self.config.episodes.seed, num_agents=self.num_envs
            )
            target = next((s for s in self._pool if not s.users), None)
            if target is None:
                target = _SceneSim(self._hs.Simulator(cfg), path)
                self._pool.append(target)
                self.simulators_created += 1
            else:
                target.sim.reconfigure(cfg)
                target.path = path
                self.reconfigures += 1
        target.users.add(env_id)
        self._where[env_id] = target

    # --- motion ---------------------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> StepResult:
        """Apply one action per agent; collided is habitat-sim's own report (``Agent.act``'s return)."""
        actions = self._per_agent(actions, "actions").astype(np.int64)
        collided = np.zeros(self.num_envs, dtype=bool)
        for i, action in enumerate(actions.tolist()):
            if action == Action.STOP:
                continue
            try:
                name = ACTION_NAMES[Action(action)]
            except (ValueError, KeyError):
                raise ValueError(
                    f"action {action} for agent {i} is unknown; use 0..3 (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT)"
                ) from None
            collided[i] = bool(self._sim(i).get_agent(i).act(name))
        return StepResult(collided=collided)

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground-plane positions ``[N, 2]`` and headings ``[N]`` from the agents' habitat states."""
        positions = np.zeros((self.num_envs, 2), dtype=np.float64)
        headings = np.zeros(self.num_envs, dtype=np.float64)
        for i in range(self.num_envs):
            state = self._sim(i).get_agent(i).get_state()
            positions[i] = habitat_to_xy(state.position)
            q = state.rotation  # numpy-quaternion
            headings[i] = quaternion_to_heading((q.x, q.y, q.z, q.w))
        return positions, headings

    # --- sensors --------------------------------------------------------------------------------------
    def render(self, sensors: tuple[str, ...] = ("rgb",), env_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Channel-first uint8 rgb ``[N, 3, H, W]``, float32 depth ``[N, 1, H, W]`` and normals ``[N, 3, H, W]``;
        only the rows of ``env_ids`` (in that order) when given."""
        unknown = set(sensors) - {"rgb", "depth", "normals"}
        if unknown:
            raise ValueError(f"unknown sensors {sorted(unknown)}; choose from rgb, depth, normals")
        if {"depth", "normals"} & set(sensors) and not needs_depth(self.config):
            raise ValueError(f"sensors {sorted(sensors)} need a depth camera; add 'depth' or 'normals' to env.sensors")
        ids = range(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64).reshape(-1).tolist()
        for i in ids:
            self._check_id(i)
        out: dict[str, list[np.ndarray]] = {name: [] for name in sensors}
        for i in ids:
            obs = self._sim(i).get_sensor_observations(agent_ids=i)  # habitat reuses these buffers: copy below
            if "rgb" in out:
                out["rgb"].append(np.ascontiguousarray(np.asarray(obs[RGB_UUID])[..., :3].transpose(2, 0, 1)))
            if "depth" in out or "normals" in out:
                depth = np.array(obs[DEPTH_UUID], dtype=np.float32).reshape(
                    self.config.resolution, self.config.resolution
                )
                if "depth" in out:
                    out["depth"].append(depth[None])
                if "normals" in out:
                    out["normals"].append(normals_from_depth(depth, self.config.hfov_deg))
        return {name: _stack(frames, name, self.config.resolution) for name, frames in out.items()}

    # --- geometry -------------------------------------------------------------------------------------
    def geodesic_distance(self) -> np.ndarray:
        """Navmesh shortest-path length to each goal (``habitat_sim.ShortestPath``); inf when unreachable."""
        out = np.empty(self.num_envs, dtype=np.float64)
        for i in range(self.num_envs):
            sim = self._sim(i)
            path = self._hs.ShortestPath()
            path.requested_start = np.asarray(sim.get_agent(i).get_state().position, dtype=np.float32)
            path.requested_end = self._goals[i]
            found = sim.pathfinder.find_path(path)
            out[i] = float(path.geodesic_distance) if found else math.inf
        return out

    def expert_action(self, goal_radius: float) -> np.ndarray:
        """habitat-sim's GreedyGeodesicFollower (what habitat-lab's ShortestPathFollower wraps); like
        ShortestPathFollower(stop_on_error=True) it answers STOP when the follower finds no action."""
        out = np.empty(self.num_envs, dtype=np.int64)
        for i in range(self.num_envs):
            follower = self._follower(i, float(goal_radius))
            try:
                action = follower.next_action_along(self._goals[i])
            except self._hs.errors.GreedyFollowerError:
                action = Action.STOP
            out[i] = int(Action.STOP if action is None else action)
        return out

    def _follower(self, env_id: int, goal_radius: float) -> Any:
        key = (env_id, goal_radius)
        if key not in self._followers:
            self._followers[key] = self._sim(env_id).make_greedy_follower(
                env_id,
                goal_radius,
                stop_key=int(Action.STOP),
                forward_key=int(Action.MOVE_FORWARD),
                left_key=int(Action.TURN_LEFT),
                right_key=int(Action.TURN_RIGHT),
            )
        return self._followers[key]

    # --- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close every simulator, newest first: habitat-sim 0.3.3 aborts the process (``GL::Context::current():
        no current context``) when simulators sharing a process are closed in creation order."""
        self._followers.clear()
        self._where = [None] * self.num_envs
        while self._pool:
            self._pool.pop().sim.close()

    def _sim(self, env_id: int) -> Any:
        where = self._where[env_id]
        if where is None:
            raise RuntimeError(f"habitat agent {env_id} has no episode yet; call reset() for every env id first")
        return where.sim

    def _check_id(self, env_id: int) -> None:
        if not 0 <= env_id < self.num_envs:
            raise IndexError(f"env id {env_id} is out of range for num_envs={self.num_envs}")

    def _per_agent(self, values: np.ndarray, what: str) -> np.ndarray:
        values = np.asarray(values).reshape(-1)
        if len(values) != self.num_envs:
            raise ValueError(f"{what} has {len(values)} entries; the backend has num_envs={self.num_envs}")
        return values


def _stack(frames: list[np.ndarray], sensor: str, resolution: int) -> np.ndarray:
    """Stack per-agent frames (an empty subset gives a 0-row array of the sensor's shape and dtype)."""
    if frames:
        return np.stack(frames)
    channels, dtype = {"rgb": (3, np.uint8), "depth": (1, np.float32), "normals": (3, np.float32)}[sensor]
    return np.zeros((0, channels, resolution, resolution), dtype)
