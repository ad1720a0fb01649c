"""A training run's device, set up in the order a multi-GPU run needs: this rank's GPU first, then the queries."""

from __future__ import annotations

from typing import Any

from agents.run.model_builder import resolve_device
from agents.trainers.distributed import context
from policies.precision import set_tf32, warn_emulated_bf16


def setup_run_device(cfg: Any) -> str:
    """The device ``cfg`` (a RunConfig with run: and policy:) trains on. Under torchrun the process group starts
    and ``torch.cuda.set_device(LOCAL_RANK)`` runs before anything asks CUDA about a device (the bf16 check
    would otherwise open a context on GPU 0 in every rank); then TF32 is set as ``run.tf32`` says and a forced
    bf16 that this device only emulates is warned about."""
    context()
    device = resolve_device(cfg.run.device)
    set_tf32(cfg.run.tf32)
    warn_emulated_bf16(cfg.policy, device)
    return device
