"""α schedules for alpha blending: functions of the frames trained on, one unit for both trainers.

PPO passes the env frames collected so far (``num_timesteps``); behaviour cloning passes the training
samples seen so far (optimizer steps x batch size). ``alpha_switch_step`` and ``alpha_k`` are frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import ConfigError


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
    """Build a schedule by name: 'stage' (needs switch_step) or 'hyperbolic' (needs k); ``schedule_rule`` is
    checked first (PolicyConfig checks it at the door)."""
    problem = schedule_rule(name, switch_step, k)
    assert problem is None, f"PolicyConfig checks the α schedule ({problem})"
    return StageAlpha(int(switch_step)) if name == "stage" else HyperbolicAlpha(float(k))


def schedule_rule(name: str, switch_step: int | None, k: float | None) -> ConfigError | None:
    """The one rule for an α schedule's settings; returns the error to raise, or None."""
    if name not in SCHEDULES:
        return ConfigError(
            "policy.alpha_schedule",
            f"{name!r} is unknown",
            f"choose one of {', '.join(SCHEDULES)}, or null for a learned/fixed α",
        )
    if name == "stage" and switch_step is None:
        return ConfigError(
            "policy.alpha_switch_step", "missing for alpha_schedule=stage", "give the frame at which α goes from 1 to 0"
        )
    if name == "hyperbolic" and (k is None or k <= 0):
        return ConfigError(
            "policy.alpha_k",
            f"{k!r} is not > 0 for alpha_schedule=hyperbolic",
            "give k in frames for α = min(1, k / frames)",
        )
    return None
