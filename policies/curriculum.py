"""α schedules for alpha blending: functions of the training step (frames seen by the agent)."""
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
    """Stage-wise curriculum: α = 1 (base only) before `switch_step`, then 0 (side only)."""

    switch_step: int

    def __call__(self, step: int) -> float:
        return 1.0 if step < self.switch_step else 0.0


@dataclass(frozen=True)
class HyperbolicAlpha:
    """Hyperbolic decay α = min(1, k / N) at step N: the base's share falls as 1/N after step k."""

    k: float

    def __call__(self, step: int) -> float:
        return 1.0 if step <= self.k else float(self.k) / float(step)


SCHEDULES = ("stage", "hyperbolic")


def make_schedule(name: str, switch_step: int | None = None, k: float | None = None):
    """Build a schedule by name: 'stage' (needs switch_step) or 'hyperbolic' (needs k)."""
    if name == "stage":
        if switch_step is None:
            raise ValueError("alpha_schedule='stage' needs alpha_switch_step (the step at which α goes from 1 to 0)")
        return StageAlpha(int(switch_step))
    if name == "hyperbolic":
        if k is None or k <= 0:
            raise ValueError("alpha_schedule='hyperbolic' needs alpha_k > 0 (α = min(1, k/N))")
        return HyperbolicAlpha(float(k))
    raise ValueError(f"unknown alpha_schedule {name!r}; choose one of {SCHEDULES} (or None for learned/fixed α)")
