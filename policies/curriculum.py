"""α schedules for alpha blending: functions of the frames trained on, one unit for both trainers.

PPO passes the env frames collected so far (``num_timesteps``); behaviour cloning passes the training
samples seen so far (optimizer steps x batch size). ``alpha_switch_step`` and ``alpha_k`` are frames.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConstantAlpha:
    """α fixed for all of training."""

    value: float

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class StageAlpha:
    """Stage-wise curriculum: α = 1 (base only) before frame `switch_step`, then 0 (side only)."""

    switch_step: int

    def __call__(self, step: int) -> float:
        return 1.0 if step < self.switch_step else 0.0


@dataclass(frozen=True)
class HyperbolicAlpha:
    """Hyperbolic decay α = min(1, k / N) at frame N: the base's share falls as 1/N after frame k."""

    k: float

    def __call__(self, step: int) -> float:
        return 1.0 if step <= self.k else float(self.k) / float(step)


SCHEDULES = ("stage", "hyperbolic")


def make_schedule(name: str, switch_step: int | None = None, k: float | None = None):
    """Build a schedule by name: 'stage' (needs switch_step) or 'hyperbolic' (needs k)."""
    if name == "stage":
        if switch_step is None:
            raise ValueError("policy.alpha_switch_step: missing for alpha_schedule=stage (give the frame at which α goes from 1 to 0)")
        return StageAlpha(int(switch_step))
    if name == "hyperbolic":
        if k is None or k <= 0:
            raise ValueError("policy.alpha_k: must be > 0 for alpha_schedule=hyperbolic (α = min(1, k / frames))")
        return HyperbolicAlpha(float(k))
    raise ValueError(f"policy.alpha_schedule: {name!r} is unknown (choose one of {', '.join(SCHEDULES)}, or null for a learned/fixed α)")
