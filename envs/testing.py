"""A tiny deterministic backend for fast tests of the task, the env adapters and the trainers.

``FakeBackend`` implements ``envs.backend.Backend`` for an empty square room (walls on its border, no
obstacles): the geodesic distance is the euclidean one, moving into a wall clamps the agent and counts as a
collision, and the "camera" paints colours that depend on the pose so that observations change as the
agent moves. It has no numba kernels or files, so it starts instantly.
"""

from __future__ import annotations

import math

import numpy as np

from envs.backend import Action, StepResult
from envs.config import EnvConfig
from envs.episodes import Episode, heading_to_quaternion, xy_to_habitat


class FakeBackend:
    """N agents in an empty ``room_size`` x ``room_size`` metre room with its corner at the origin."""

    def __init__(self, config: EnvConfig | None = None, num_envs: int = 1, room_size: float = 8.0) -> None:
        config = config or EnvConfig()
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be >= 1")
        self.num_envs = int(num_envs)
        self.forward_step = float(config.forward_step)
        self.turn_angle = math.radians(config.turn_angle_deg)
        self.resolution = int(config.resolution)
        self.room_size = float(room_size)
        self.agent_radius = float(config.agent_radius)
        self._positions = np.full((num_envs, 2), room_size / 2)
        self._headings = np.zeros(num_envs)
        self._goals = np.full((num_envs, 2), room_size / 2)
        self._shade = np.zeros(num_envs, dtype=np.uint8)
        self.reset_count = 0  # how many agent resets happened (tests check autoreset with it)

    def reset(self, env_ids: np.ndarray, episodes: list[Episode]) -> None:
        """Place agents at their episodes' start poses; the scene id only tints the image."""
        env_ids = np.asarray(env_ids, dtype=np.int64)
        if len(env_ids) != len(episodes):
            raise ValueError(f"reset got {len(env_ids)} env ids but {len(episodes)} episodes")
        for env_id, episode in zip(env_ids, episodes, strict=False):
            self._positions[env_id] = episode.start_xy
            self._headings[env_id] = episode.start_heading
            self._goals[env_id] = episode.goal_xy
            self._shade[env_id] = sum(episode.scene_id.encode()) % 256
        self.reset_count += len(env_ids)

    def step(self, actions: np.ndarray) -> StepResult:
        """Move forward (clamped to the room, a clamp is a collision) or turn by ``turn_angle``."""
        actions = np.asarray(actions)
        forward = actions == Action.MOVE_FORWARD
        self._headings += self.turn_angle * (
            (actions == Action.TURN_LEFT).astype(float) - (actions == Action.TURN_RIGHT)
        )
        self._headings = np.arctan2(np.sin(self._headings), np.cos(self._headings))
        wanted = self._positions + forward[:, None] * self.forward_step * np.stack(
            [np.cos(self._headings), np.sin(self._headings)], axis=1
        )
        lo, hi = self.agent_radius, self.room_size - self.agent_radius
        clamped = np.clip(wanted, lo, hi)
        collided = forward & np.any(np.abs(clamped - wanted) > 1e-9, axis=1)
        self._positions = clamped
        return StepResult(collided=collided)

    def render(self, sensors: tuple[str, ...] = ("rgb",), env_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Pose-dependent images: red from x, green a heading-shifted gradient, blue from the scene.

        ``env_ids`` renders only those agents (the optional subset rendering the task uses on autoreset).
        """
        rows = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64)
        n, r = len(rows), self.resolution
        positions, headings = self._positions[rows], self._headings[rows]
        out: dict[str, np.ndarray] = {}
        if "rgb" in sensors:
            rgb = np.empty((n, 3, r, r), dtype=np.uint8)
            rgb[:, 0] = (255 * positions[:, 0] / self.room_size).astype(np.uint8)[:, None, None]
            columns = np.arange(r)[None, :] + (headings[:, None] / (2 * math.pi) * r).astype(np.int64)
            rgb[:, 1] = ((columns % r) * 255 // max(r - 1, 1)).astype(np.uint8)[:, None, :]
            rgb[:, 2] = self._shade[rows, None, None]
            out["rgb"] = rgb
        if "depth" in sensors:
            out["depth"] = np.broadcast_to(
                self._wall_distance()[rows, None, None, None].astype(np.float32), (n, 1, r, r)
            ).copy()
        if "normals" in sensors:
            normals = np.zeros((n, 3, r, r), dtype=np.float32)
            normals[:, 2] = 1.0
            out["normals"] = normals
        unknown = set(sensors) - {"rgb", "depth", "normals"}
        if unknown:
            raise ValueError(f"FakeBackend cannot render {sorted(unknown)}; choose from rgb, depth, normals")
        return out

    def _wall_distance(self) -> np.ndarray:
        """Distance along the heading from each agent to the room's border."""
        d = np.stack([np.cos(self._headings), np.sin(self._headings)], axis=1)
        with np.errstate(divide="ignore"):
            to_wall = np.where(
                d > 1e-12, (self.room_size - self._positions) / d, np.where(d < -1e-12, -self._positions / d, np.inf)
            )
        return to_wall.min(axis=1)

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the positions ``[N, 2]`` and headings ``[N]``."""
        return self._positions.copy(), self._headings.copy()

    def geodesic_distance(self) -> np.ndarray:
        """Euclidean distance to the goal (the room is empty)."""
        return np.linalg.norm(self._goals - self._positions, axis=1)

    def expert_action(self, goal_radius: float) -> np.ndarray:
        """Turn towards the goal until within half a turn, then move forward; STOP within ``goal_radius``."""
        delta = self._goals - self._positions
        bearing = np.arctan2(delta[:, 1], delta[:, 0]) - self._headings
        bearing = np.arctan2(np.sin(bearing), np.cos(bearing))
        action = np.where(bearing > 0, Action.TURN_LEFT, Action.TURN_RIGHT).astype(np.int64)
        action[np.abs(bearing) <= self.turn_angle / 2 + 1e-9] = Action.MOVE_FORWARD
        action[self.geodesic_distance() < goal_radius] = Action.STOP
        return action

    def close(self) -> None:
        """Nothing to release."""


def fake_episode(
    episode_id: str,
    start_xy: tuple[float, float],
    goal_xy: tuple[float, float],
    heading: float = 0.0,
    scene_id: str = "fake_room_0",
) -> Episode:
    """One episode in ground-plane coordinates, converted to Habitat's convention."""
    return Episode(
        episode_id=episode_id,
        scene_id=scene_id,
        start_position=xy_to_habitat(*start_xy),
        start_rotation=heading_to_quaternion(heading),
        goal_position=xy_to_habitat(*goal_xy),
        geodesic_distance=float(math.dist(start_xy, goal_xy)),
    )


def make_fake_episodes(count: int, room_size: float = 8.0, seed: int = 0, num_scenes: int = 3) -> list[Episode]:
    """``count`` random episodes in the fake room (start and goal at least 1 m apart), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    episodes = []
    margin = 0.5
    while len(episodes) < count:
        start, goal = rng.uniform(margin, room_size - margin, size=(2, 2))
        if np.linalg.norm(goal - start) < 1.0:
            continue
        k = len(episodes)
        episodes.append(
            fake_episode(
                str(k),
                (float(start[0]), float(start[1])),
                (float(goal[0]), float(goal[1])),
                heading=float(rng.uniform(-math.pi, math.pi)),
                scene_id=f"fake_room_{k % num_scenes}",
            )
        )
    return episodes
