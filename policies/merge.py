"""Merge operators R = B ⊕ S for base features B and side features S of the same shape [N, C, h, w].

Where an operator is asymmetric, the side conditions the base: FiLM R = γ(S)⊙B + β(S),
MLP adapter R = B + F(S). Both start as R = B (their last layers are zero-initialised).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from common.config import ConfigError
from policies.contract import FEATURE_CHANNELS
from policies.optim import mark_alpha


def alpha_rule(alpha_init: float, learned: bool, scheduled: bool) -> ConfigError | None:
    """The one rule for α's settings, checked at the door (``PolicyConfig``) and asserted by ``AlphaBlend``:
    α starts in [0, 1], a learned α (sigmoid of a logit) strictly inside, and α is learned or scheduled, not
    both. Returns the error to raise, or None."""
    if learned and scheduled:
        return ConfigError(
            "policy.alpha_learned", "must be false with an alpha_schedule", "set policy.alpha_learned=false"
        )
    if not 0.0 <= alpha_init <= 1.0:
        return ConfigError("policy.alpha_init", f"{alpha_init!r} is out of range", "use a value >= 0 and <= 1")
    if learned and not 0.0 < alpha_init < 1.0:
        return ConfigError(
            "policy.alpha_init",
            f"a learned α is sigmoid(logit) and cannot start at exactly {alpha_init!r}",
            "use 0 < alpha_init < 1, or policy.alpha_learned=false for a fixed α",
        )
    return None


class Merge(nn.Module):
    """Base class: `forward(base, side)`; `alphas()` reports blending weights for logging."""

    def alphas(self) -> dict[str, float]:
        return {}

    def set_step(self, step: int) -> None:
        """Tell step-dependent merges (curricula) the current training step."""


class AlphaBlend(Merge):
    """R = α·B + (1−α)·S. α is learned (α = sigmoid(logit), so it stays in [0, 1]), fixed, or
    follows a schedule of the training step (see `policies.curriculum`)."""

    def __init__(self, alpha_init: float = 0.5, learned: bool = True, schedule: Callable[[int], float] | None = None):
        super().__init__()
        problem = alpha_rule(alpha_init, learned, schedule is not None)
        assert problem is None, f"PolicyConfig checks α's settings ({problem})"
        self.learned = learned
        self.schedule = schedule
        if learned:
            self.logit = mark_alpha(
                nn.Parameter(torch.tensor(math.log(alpha_init / (1.0 - alpha_init)), dtype=torch.float32))
            )
        else:
            self.register_buffer("fixed_alpha", torch.tensor(float(alpha_init)))
        self.register_buffer("step", torch.tensor(0, dtype=torch.long))

    def alpha(self) -> torch.Tensor:
        """α as a 0-d tensor (differentiable when learned)."""
        if self.learned:
            return torch.sigmoid(self.logit)
        if self.schedule is not None:
            return torch.tensor(float(self.schedule(int(self.step))), device=self.step.device)
        return self.fixed_alpha

    def set_step(self, step: int) -> None:
        self.step.fill_(int(step))

    def alphas(self) -> dict[str, float]:
        return {"alpha": float(self.alpha().detach())}

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha().to(base.dtype)
        return alpha * base + (1.0 - alpha) * side


class SumMerge(Merge):
    """R = B + S."""

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return base + side


class ProductMerge(Merge):
    """R = B ⊙ S (element-wise)."""

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return base * side


class FiLMMerge(Merge):
    """R = γ(S)⊙B + β(S) with 1×1 convs γ, β; starts at γ = 1, β = 0 (R = B)."""

    def __init__(self, channels: int = FEATURE_CHANNELS):
        super().__init__()
        self.gamma = nn.Conv2d(channels, channels, kernel_size=1)
        self.beta = nn.Conv2d(channels, channels, kernel_size=1)
        for conv, bias in ((self.gamma, 1.0), (self.beta, 0.0)):
            nn.init.zeros_(conv.weight)
            nn.init.constant_(conv.bias, bias)

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return self.gamma(side) * base + self.beta(side)


class MLPAdapterMerge(Merge):
    """R = B + F(S), F a per-location MLP (1×1 convs) whose last layer starts at zero (R = B)."""

    def __init__(self, channels: int = FEATURE_CHANNELS, hidden: int = 32):
        super().__init__()
        self.adapter = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1),
        )
        nn.init.zeros_(self.adapter[-1].weight)
        nn.init.zeros_(self.adapter[-1].bias)

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return base + self.adapter(side)


class ConcatMerge(Merge):
    """R = W·[B; S], a 1×1 conv over the concatenated channels back to C channels."""

    def __init__(self, channels: int = FEATURE_CHANNELS):
        super().__init__()
        self.mix = nn.Conv2d(2 * channels, channels, kernel_size=1)

    def forward(self, base: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.cat([base, side], dim=1))


MERGES: dict[str, type[Merge]] = {
    "alpha": AlphaBlend,
    "sum": SumMerge,
    "product": ProductMerge,
    "film": FiLMMerge,
    "mlp": MLPAdapterMerge,
    "concat": ConcatMerge,
}


def build_merge(name: str, **kwargs) -> Merge:
    """A merge operator by name (see MERGES; PolicyConfig checks the name); kwargs go to its constructor."""
    assert name in MERGES, f"unknown merge {name!r}; choose one of {sorted(MERGES)}"
    return MERGES[name](**kwargs)
