"""Reference rows of every results table: fixed policies (random, expert, goal-only) and trained ones (blind,
features on a randomly initialised base).

The fixed policies need no training and are evaluated by agents/evaluation/evaluate.py like any model:

- ``random``: uniform actions, drawn from the evaluator's per-episode random streams;
- ``expert``: the backend's shortest-path follower (uses the map of the building: an upper bound);
- ``goal-only``: uses only the ``target`` observation (goal bearing and distance in the agent's frame): turn
  toward the goal until it is within half a turn step of straight ahead, then move forward; STOP (when the
  action set has it) once the goal is closer than the success distance. No vision, no map: it walks into
  walls and stays there, so it measures how far the goal vector alone gets.

The trained references are ordinary methods with config overrides (``TRAINED_REFERENCES``): ``blind`` zeroes
the RGB path inside the extractor (``policy.blind=true``: map and goal only) and ``features-random-base`` is
``features`` on a frozen, randomly initialised base of the same architecture (what the prior adds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

REFERENCE_POLICIES = ("random", "expert", "goal-only")
TRAINED_REFERENCES: dict[str, tuple[str, ...]] = {
    "blind": ("policy.blind=true",),
    "features-random-base": ("policy.method=features", "policy.base=random"),
}


def goal_only_actions(
    target: np.ndarray, turn_angle_deg: float, success_distance: float, auto_stop: bool
) -> np.ndarray:
    """Policy actions ``int64[N]`` from goal vectors ``[N, 3k]`` (the last frame's ``[cos phi, sin phi, rho]``)."""
    last = np.asarray(target, dtype=np.float64).reshape(len(target), -1)[:, -3:]
    phi, rho = np.arctan2(last[:, 1], last[:, 0]), last[:, 2]
    forward, left, right = (0, 1, 2) if auto_stop else (1, 2, 3)
    actions = np.where(np.abs(phi) <= math.radians(turn_angle_deg) / 2, forward, np.where(phi > 0, left, right))
    if not auto_stop:
        actions = np.where(rho < success_distance, 0, actions)  # STOP
    return actions.astype(np.int64)


def reference_actor(
    name: str, task: Any, num_actions: int, sample: Callable[[np.ndarray], np.ndarray]
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """obs -> actions of the fixed reference policy ``name``; ``sample`` draws from ``[N, A]`` probabilities."""
    if name == "expert":
        return lambda obs: task.expert_actions()
    if name == "random":
        return lambda obs: sample(np.full((task.num_envs, num_actions), 1.0 / num_actions))
    if name == "goal-only":
        c = task.config
        return lambda obs: goal_only_actions(obs["target"], c.turn_angle_deg, c.success_distance, c.auto_stop)
    raise ValueError(f"policy {name!r} is unknown; pass an SB3 model or one of {REFERENCE_POLICIES}")
