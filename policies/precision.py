"""Mixed precision for training forward passes (`policy.train_precision`): bf16 autocast, fp32 outputs.

The PPO update (`SideTunePolicy.evaluate_actions`) and behaviour cloning's training step run the policy's
trunk (extractor and MLPs) under `torch.autocast(bfloat16)` when the config asks for it; parameters, optimizer
state, gradients, the action distribution and the losses stay fp32. Rollouts and evaluation always run fp32.
'auto' is bf16 where it is native (`policies.freeze.native_bf16`), else fp32; results.json records what a run's
precisions resolved to (`run_numerics`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from policies.freeze import cpu_bf16_flags, native_bf16, precision_dtype, resolve_precision


def resolve_train_precision(precision: str, device: torch.device | str) -> str:
    """'float32' or 'bfloat16': what a training forward pass on `device` runs in ('auto' by the hardware)."""
    return str(precision_dtype(precision, torch.device(device), "train precision")).removeprefix("torch.")


def training_autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """The context a training forward pass runs in: bf16 autocast on `device` where `precision` resolves to
    bfloat16, else nothing."""
    if resolve_train_precision(precision, device) == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def set_tf32(enabled: bool) -> None:
    """TF32 (a 10-bit mantissa) for CUDA's fp32 matrix products and cuDNN convolutions, on or off (`run.tf32`).
    Both switches are set either way: torch's own defaults differ (matmul off, cuDNN on). CPUs ignore them."""
    torch.backends.cuda.matmul.allow_tf32 = bool(enabled)
    torch.backends.cudnn.allow_tf32 = bool(enabled)


def run_numerics(
    base_precision: str, train_precision: str, device: torch.device | str, tf32: bool = False
) -> dict[str, object]:
    """What a run's 'auto' precisions resolved to on this machine, for its results.json: the same config gives
    bf16 on one CPU and fp32 on another, so seeds of one cell run on different machines can differ in numerics.
    ``tf32``: whether its fp32 matrix products and convolutions ran in TF32 (`run.tf32`, CUDA only)."""
    device = torch.device(device)
    return {
        "device": device.type,
        "base_dtype": str(resolve_precision(base_precision, device)).removeprefix("torch."),
        "train_precision": resolve_train_precision(train_precision, device),
        "tf32": bool(tf32) and device.type == "cuda",
        "cpu_bf16": list(cpu_bf16_flags()),
    }


def emulated_bf16_warning(base_precision: str, train_precision: str, device: torch.device | str) -> str | None:
    """One line for a run that forces bfloat16 where bf16 is emulated (e.g. an AVX2-only CPU), which makes it
    several times slower than fp32; None otherwise ('auto' never chooses emulated bf16)."""
    device = torch.device(device)
    if native_bf16(device):
        return None
    settings = (("base_precision", base_precision), ("train_precision", train_precision))
    forced = [f"policy.{key}=bfloat16" for key, value in settings if value == "bfloat16"]
    if not forced:
        return None
    hint = " (no avx512_bf16/amx_bf16)" if device.type == "cpu" else ""
    return (
        f"warning: {' and '.join(forced)} on a {device.type} without native bf16{hint}: emulated and several times "
        "slower than float32; use auto or float32"
    )


def warn_emulated_bf16(policy: Any, device: torch.device | str) -> None:
    """Print `emulated_bf16_warning` of a run's policy config (PolicyConfig or its section) at its start."""
    line = emulated_bf16_warning(policy.base_precision, policy.train_precision, device)
    if line:
        print(line, flush=True)
