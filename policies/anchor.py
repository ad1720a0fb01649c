"""L2-SP: keep a trainable network near the weights it started from (Li, Grandvalet, Davoine, ICML 2018).

Side-tuning's side starts as a distillation of the base, so at the start R(x) = α·B(x) + (1−α)·S(x) is close to
the base's features whatever α is. With little data (49 trajectories) the side drifts away from the base and α
collapses toward the side: the prior is lost. L2-SP adds λ/2·‖θ − θ₀‖² to the loss for the anchored
parameters, θ₀ being their weights at the start; with much data the task's gradient outweighs it.

The penalty's gradient, λ·(θ − θ₀), enters through the forward pass: the wrapped module runs on its parameters
passed through an identity whose backward adds the pull toward θ₀. So every trainer (SB3 PPO's update, behaviour
cloning) applies it without a change to its loss, gradient clipping sees the whole gradient as it would see the
penalised loss's, and copies of the module (deepcopy, DDP) stay correct. The pull is added once per forward pass
that builds a graph; the trainers here encode each minibatch once per loss (a shared features extractor). θ₀ is a
buffer, saved and restored with the model.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call


class _PullToward(torch.autograd.Function):
    """Identity on a parameter whose backward adds strength·(θ − θ₀): the gradient of strength/2·‖θ − θ₀‖²."""

    @staticmethod
    def forward(ctx: Any, parameter: torch.Tensor, start: torch.Tensor, strength: float) -> torch.Tensor:
        ctx.save_for_backward(parameter, start)
        ctx.strength = strength
        return parameter.view_as(parameter)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        parameter, start = ctx.saved_tensors
        return grad + ctx.strength * (parameter - start), None, None


class L2SPAnchor(nn.Module):
    """Wraps `module` and anchors its trainable parameters at their current values with strength `strength`.

    The forward pass's output is the wrapped module's; only the gradients change (not at all with `strength` 0).
    Its state dict holds the wrapped module's under `module.` and the starts as `anchor_<i>` buffers."""

    def __init__(self, module: nn.Module, strength: float):
        super().__init__()
        if not strength >= 0.0:
            raise ValueError(f"the L2-SP strength must be >= 0, got {strength}")
        self.module = module
        self.strength = float(strength)
        self._anchored: list[tuple[str, str]] = []  # (parameter name in `module`, buffer name of its start)
        for index, (name, parameter) in enumerate(module.named_parameters()):
            if parameter.requires_grad:
                self.register_buffer(f"anchor_{index}", parameter.detach().clone())
                self._anchored.append((name, f"anchor_{index}"))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.strength == 0 or not torch.is_grad_enabled():
            return self.module(*args, **kwargs)
        parameters = dict(self.module.named_parameters())
        pulled = {
            name: _PullToward.apply(parameters[name], getattr(self, buffer), self.strength)
            for name, buffer in self._anchored
        }
        return functional_call(self.module, pulled, args, kwargs)

    def _pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        parameters = dict(self.module.named_parameters())
        return [(parameters[name].detach(), getattr(self, buffer)) for name, buffer in self._anchored]

    def penalty(self) -> torch.Tensor:
        """λ/2·‖θ − θ₀‖² over the anchored parameters (for logging; the forward pass applies its gradient)."""
        return 0.5 * self.strength * sum(((p - p0) ** 2).sum() for p, p0 in self._pairs())

    def relative_drift(self) -> float:
        """‖θ − θ₀‖ / ‖θ₀‖ over the anchored parameters: how far the network moved from its start."""
        moved = sum(float(((p - p0) ** 2).sum()) for p, p0 in self._pairs())
        start = sum(float((p0**2).sum()) for _, p0 in self._pairs())
        return (moved / start) ** 0.5 if start > 0 else 0.0
