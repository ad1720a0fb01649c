"""The small interface every simulator backend implements (embedded, habitat).

The PointNav task (reward, metrics, visited map, goal vector) is written once above this interface
(`envs/task.py`); a backend only moves agents, renders their cameras and answers geometry queries.

Conventions shared by every backend:
- Poses live on the ground plane in metres: ``position`` is ``(x, y)`` and ``heading`` is the yaw in
  radians, counter-clockwise from +x; the agent looks along ``(cos heading, sin heading)``.
  TURN_LEFT increases the heading. A backend with another convention (Habitat: y up, looks along -z)
  converts at its boundary.
- Images are channel-first: ``rgb`` is ``uint8[N, 3, H, W]``; ``depth`` is ``float32[N, 1, H, W]`` in
  metres (distance along the optical axis); ``normals`` is ``float32[N, 3, H, W]`` in the camera frame
  (x right, y up, z towards the camera), unit length.
- Batched: every call handles all ``num_envs`` agents at once; per-agent arguments are arrays of length N
  (``render`` may be asked for a subset, see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, runtime_checkable

import numpy as np

from envs.episodes import Episode


class Action(IntEnum):
    """Habitat's PointNav action ids, so trajectories and policies move between backends."""

    STOP = 0
    MOVE_FORWARD = 1
    TURN_LEFT = 2
    TURN_RIGHT = 3


@dataclass(frozen=True)
class StepResult:
    """What moving the agents did: whether each agent's move was blocked (it then slides along walls)."""

    collided: np.ndarray  # bool[N]


@runtime_checkable
class Backend(Protocol):
    """A batch of N simulated agents, each in its own episode (possibly different buildings)."""

    num_envs: int
    forward_step: float  # metres per MOVE_FORWARD
    turn_angle: float  # radians per TURN_LEFT / TURN_RIGHT

    def reset(self, env_ids: np.ndarray, episodes: list[Episode]) -> None:
        """Place agents ``env_ids[i]`` at the start of ``episodes[i]`` (its building, start pose, goal)."""

    def step(self, actions: np.ndarray) -> StepResult:
        """Apply MOVE_FORWARD / TURN_* for every agent (STOP leaves the agent where it is)."""

    def render(self, sensors: tuple[str, ...] = ("rgb",), env_ids: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Render the requested sensors ('rgb', 'depth', 'normals') for all N agents, or only for agents
        ``env_ids`` (int array of K ids; arrays then have K rows in that order), e.g. just the autoreset ones."""

    def poses(self) -> tuple[np.ndarray, np.ndarray]:
        """Current ``positions float64[N, 2]`` and ``headings float64[N]``."""

    def geodesic_distance(self) -> np.ndarray:
        """Shortest navigable path length ``float64[N]`` from each agent to its episode's goal (inf if cut off)."""

    def expert_action(self, goal_radius: float) -> np.ndarray:
        """The shortest-path expert's next action ``int64[N]`` (STOP once within ``goal_radius``)."""

    def close(self) -> None:
        """Release simulator resources."""
