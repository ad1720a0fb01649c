"""Mixed precision for training forward passes (`policy.train_precision`): bf16 autocast, fp32 outputs.

The PPO update (`SideTunePolicy.evaluate_actions`) and behaviour cloning's training step run the policy's
trunk (extractor and MLPs) under `torch.autocast(bfloat16)` when the config asks for it; parameters, optimizer
state, gradients, the action distribution and the losses stay fp32. Rollouts and evaluation always run fp32.
"""

from __future__ import annotations

import contextlib

import torch

TRAIN_PRECISIONS = ("float32", "bfloat16")  # policy.train_precision


def training_autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The context a training forward pass runs in: bf16 autocast on `device` for 'bfloat16', else nothing."""
    if precision not in TRAIN_PRECISIONS:
        raise ValueError(f"train precision {precision!r} is unknown (choose one of {', '.join(TRAIN_PRECISIONS)})")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
