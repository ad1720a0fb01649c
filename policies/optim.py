"""The optimizer both trainers use: Adam with the merge's α in a parameter group of its own.

α is one scalar among a million weights; at the network's learning rate a few thousand Adam steps move its logit
by at most that many x lr, so α could not leave 0.5 in a CPU-scale run. Its group has its own, fixed learning
rate (`policy.alpha_lr`, which a trainer's learning-rate schedule does not touch) and no weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

_ALPHA_TAG = "_sidetune_merge_alpha"


def mark_alpha(parameter: nn.Parameter) -> nn.Parameter:
    """Tag a merge's α parameter so that `SideTuneAdam` puts it in the α group."""
    setattr(parameter, _ALPHA_TAG, True)
    return parameter


def is_alpha(parameter: torch.Tensor) -> bool:
    """Whether `parameter` is a merge's α (tagged by `mark_alpha`)."""
    return bool(getattr(parameter, _ALPHA_TAG, False))


class SideTuneAdam(torch.optim.Adam):
    """Adam over a flat parameter list, split into the network group (lr, weight_decay) and the α group
    (`alpha_lr`, or the network's lr when None; weight decay 0). SB3 builds it as `optimizer_class`."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        alpha_lr: float | None = None,
        weight_decay: float = 0.0,
        **kwargs: Any,
    ):
        params = [p for p in params if p.requires_grad]
        alpha = [p for p in params if is_alpha(p)]
        groups: list[dict[str, Any]] = [
            {"params": [p for p in params if not is_alpha(p)], "weight_decay": weight_decay}
        ]
        if alpha:
            groups.append({"params": alpha, "weight_decay": 0.0, "fixed_lr": alpha_lr, "is_alpha": True})
        super().__init__(groups, lr=lr, **kwargs)

    def step(self, closure: Callable[[], float] | None = None) -> Any:
        """One Adam step; the α group first gets its fixed learning rate back (schedules reset every group's lr)."""
        for group in self.param_groups:
            if group.get("fixed_lr") is not None:
                group["lr"] = float(group["fixed_lr"])
        return super().step(closure)

    def alpha_group(self) -> dict[str, Any] | None:
        """The α parameter group (None when the model has no learned α)."""
        return next((g for g in self.param_groups if g.get("is_alpha")), None)
