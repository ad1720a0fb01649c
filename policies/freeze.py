"""Freezing: a frozen module never trains, never leaves eval mode and never tracks gradients."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from common.registry import Registry


@functools.cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU's native bf16 instruction sets in /proc/cpuinfo (`amx_bf16`: Intel AMX tiles, `avx512_bf16`: e.g.
    AMD Zen 4, Intel Cooper Lake); oneDNN's bf16 convolutions beat fp32 only with one of them."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = set(cpuinfo.read().split())
    except OSError:
        return ()
    return tuple(flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags)


def cpu_has_amx() -> bool:
    """True when the CPU has AMX bf16 tiles (/proc/cpuinfo `amx_bf16`)."""
    return "amx_bf16" in cpu_bf16_flags()


CUDA_NATIVE_BF16 = (8, 0)  # compute capability of the first GPUs with bf16 tensor cores (Ampere)


def cuda_native_bf16(capability: tuple[int, int]) -> bool:
    """True for a GPU of compute capability ``capability`` that runs bf16 natively (8.0 and newer); older ones
    emulate it (torch.cuda.is_bf16_supported() says True there too, counting emulation)."""
    return tuple(capability) >= CUDA_NATIVE_BF16


def native_bf16(device: torch.device) -> bool:
    """True where bf16 compute beats fp32: GPUs of compute capability 8.0 and newer and CPUs with native bf16
    instructions; elsewhere bf16 is emulated and slower. What every 'auto' precision resolves by. On CUDA it asks
    the current GPU (``device``'s index, else the one set by torch.cuda.set_device: this rank's under torchrun)."""
    if device.type == "cuda":
        return cuda_native_bf16(torch.cuda.get_device_capability(device))
    return device.type == "cpu" and bool(cpu_bf16_flags())


@dataclass(frozen=True)
class PrecisionSpec:
    """One numerics setting of policy.base_precision and policy.train_precision: its name, a line of help and the
    dtype it computes in on a device."""

    name: str
    description: str
    dtype: Callable[[torch.device], torch.dtype]


PRECISIONS: Registry[PrecisionSpec] = Registry("precision")
precision_names = PRECISIONS.names


def _auto_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if native_bf16(device) else torch.float32


for _spec in (
    PrecisionSpec(
        "auto",
        "bfloat16 where it is native (GPUs of compute capability 8.0+, CPUs with avx512_bf16/amx_bf16), else float32",
        _auto_dtype,
    ),
    PrecisionSpec("float32", "float32 everywhere", lambda device: torch.float32),
    PrecisionSpec(
        "bfloat16",
        "bfloat16 everywhere (emulated, and slow, on CPUs without native bf16)",
        lambda device: torch.bfloat16,
    ),
):
    PRECISIONS.register(_spec)


def precision_dtype(precision: str, device: torch.device, what: str = "base precision") -> torch.dtype:
    """The dtype ``precision`` computes in on ``device``; ValueError naming ``what`` and the choices when unknown."""
    spec = PRECISIONS.get(precision)
    if spec is None:
        raise ValueError(f"{what} {precision!r} is unknown (choose one of {', '.join(precision_names())})")
    return spec.dtype(device)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The dtype a frozen base runs in: 'auto' is bfloat16 where bf16 is native (`native_bf16`), else float32."""
    return precision_dtype(precision, device)


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """A copy of eval-mode `module` with every BatchNorm2d that directly follows a Conv2d (in registration order,
    as in the compact and Taskonomy bases) folded into that conv, the BatchNorm replaced by an identity."""
    folded = copy.deepcopy(module).eval()
    for parent in folded.modules():
        previous: tuple[str, nn.Module] | None = None
        for name, child in list(parent.named_children()):
            if (
                isinstance(child, nn.BatchNorm2d)
                and child.running_mean is not None
                and previous is not None
                and isinstance(previous[1], nn.Conv2d)
            ):
                setattr(parent, previous[0], fuse_conv_bn_eval(previous[1], child))
                setattr(parent, name, nn.Identity())
            previous = (name, child)
    return folded


class Frozen(nn.Module):
    """Wraps a module so that it stays frozen: requires_grad=False, eval mode even under `.train()`,
    and forward under `torch.no_grad()` (no activations kept for backward, so no memory for them).
    Its weights are still part of the state dict, so saving a policy saves them too.

    Forward runs an inference copy (batch norms folded into the convs, in `precision`: see `resolve_precision`)
    and returns float32; the copy is rebuilt whenever the wrapped weights, the device or the layout change."""

    def __init__(self, module: nn.Module, precision: str = "float32"):
        super().__init__()
        self.module = module
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        resolve_precision(precision, torch.device("cpu"))  # checks the name
        self.precision = precision
        self._inference: tuple[Any, nn.Module] | None = None  # (key, copy); a plain attribute, not a submodule
        super().train(False)

    def train(self, mode: bool = True) -> Frozen:
        """Ignore `mode`: BatchNorm statistics of a frozen base must not move."""
        return super().train(False)

    def dtype_for(self, device: torch.device) -> torch.dtype:
        """The dtype this base computes in on `device`."""
        return resolve_precision(self.precision, device)

    def inference_module(self, x: torch.Tensor) -> nn.Module:
        """The folded copy for input `x` (built on first use, then only after a weight, device or layout change)."""
        tensors = [*self.module.parameters(), *self.module.buffers()]
        channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        key = (x.device, self.precision, channels_last, tuple((id(t), t._version) for t in tensors))
        if self._inference is None or self._inference[0] != key:
            fast = fold_batch_norms(self.module).to(device=x.device, dtype=self.dtype_for(x.device))
            self._inference = (key, fast.to(memory_format=torch.channels_last) if channels_last else fast)
        return self._inference[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fast = self.inference_module(x)
            return fast(x.to(self.dtype_for(x.device))).float()


def set_trainable(module: nn.Module, trainable: bool) -> nn.Module:
    """Set requires_grad on every parameter of `module`; returns it."""
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)
    return module


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a `Frozen` wrapper, or the module itself."""
    return module.module if isinstance(module, Frozen) else module
