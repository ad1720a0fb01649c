"""Freezing: a frozen module never trains, never leaves eval mode and never tracks gradients."""
from __future__ import annotations

import torch
from torch import nn


class Frozen(nn.Module):
    """Wraps a module so that it stays frozen: requires_grad=False, eval mode even under `.train()`,
    and forward under `torch.no_grad()` (no activations kept for backward, so no memory for them).
    Its weights are still part of the state dict, so saving a policy saves them too."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "Frozen":
        """Ignore `mode`: BatchNorm statistics of a frozen base must not move."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.module(x)


def set_trainable(module: nn.Module, trainable: bool) -> nn.Module:
    """Set requires_grad on every parameter of `module`; returns it."""
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)
    return module


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a `Frozen` wrapper, or the module itself."""
    return module.module if isinstance(module, Frozen) else module
