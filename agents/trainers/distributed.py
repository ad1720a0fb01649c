"""Data parallelism under ``torchrun``: the one object the trainers consult to shard, synchronise and write once.

``context()`` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) once and starts the process group:
NCCL when CUDA is available (each rank on GPU ``LOCAL_RANK``), gloo otherwise. Without torchrun (or with one
process) it is a world of size 1 whose methods do nothing, so the trainers run as one plain process.

BC wraps its logits path in DistributedDataParallel (``wrap``) and takes an equal shard of each epoch's
shuffled steps (``shard``). PPO, in the DD-PPO style, steps its own envs on every rank and averages
gradients before every optimizer step (``average_gradients``); ``ppo_sync_callbacks`` make the frame counter
count every rank's frames and stop all ranks together. Run folders, checkpoints, TensorBoard and evaluation are
rank 0's (``is_main``, ``run_on_main``). docs/scaling.md says how to launch it and what it leaves out.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from common.errors import EnvironmentSetupError

T = TypeVar("T")
RANK_SEED_STRIDE = 1_000_003  # seeds of different ranks never meet within a run
TIMEOUT = datetime.timedelta(hours=2)  # other ranks wait while rank 0 evaluates or writes checkpoints


@dataclass(frozen=True)
class Distributed:
    """This process's place in the data-parallel world (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """This rank's seed for its envs and sampling: ``seed`` itself on rank 0, so that rank 0 of any world
        (and a run without torchrun) sees the episodes a single process would."""
        return seed + RANK_SEED_STRIDE * self.rank

    def shard(self, items: np.ndarray) -> np.ndarray:
        """This rank's share of ``items``: every world_size-th item from ``rank``, cut so that every rank has the
        same count (equal batches on all ranks; up to world_size - 1 items of an epoch are left out)."""
        if not self.enabled:
            return items
        per_rank = len(items) // self.world_size
        return items[self.rank :: self.world_size][:per_rank]

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of ``values`` over all ranks (the values themselves in a world of one)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=self._device())
        torch.distributed.all_reduce(t)
        return t.tolist()

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        if not self.enabled:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0, device=self._device())
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def run_on_main(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args)`` on rank 0, its result sent to every rank; an error on rank 0 is raised on every rank."""
        if not self.enabled:
            return fn(*args, **kwargs)
        outcome: tuple[bool, Any] = (True, None)
        if self.is_main:
            try:
                outcome = (True, fn(*args, **kwargs))
            except Exception as err:  # sent to the other ranks so that none waits forever
                outcome = (False, err)
        ok, value = self.broadcast(outcome)
        if not ok:
            raise value
        return value

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (it may write shared files: a trajectory pool, a feature cache), then the
        others run it and find the files made."""
        if self.enabled and not self.is_main:
            self.barrier()
        try:
            yield
        finally:
            if self.enabled and self.is_main:
                self.barrier()

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in DistributedDataParallel (gradients averaged in backward); itself in a world of one."""
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if self.backend == "nccl" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> list[Any]:
        """Average each trainable parameter's gradient over the ranks as soon as backward has accumulated it, so
        whatever runs next (gradient clipping, the optimizer step) sees the mean gradient; returns the hooks."""
        if not self.enabled:
            return []
        world = float(self.world_size)

        def average(p: torch.Tensor) -> None:
            torch.distributed.all_reduce(p.grad)
            p.grad.div_(world)

        return [p.register_post_accumulate_grad_hook(average) for p in params if p.requires_grad]

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers into every rank's ``module`` (identical starting weights)."""
        if not self.enabled:
            return
        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                torch.distributed.broadcast(tensor.data, src=0)

    def _device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


_CONTEXT: Distributed | None = None
AUTO_BACKEND = "AUTO"  # habitat-baselines' rl.ddppo.distrib_backend in the plugin's config: chosen as below


def process_group_backend(cuda_available: bool) -> str:
    """torch.distributed's backend for a data-parallel run: NCCL where CUDA is (GPU all-reduce, one GPU per rank),
    gloo otherwise (NCCL needs CUDA)."""
    return "nccl" if cuda_available else "gloo"


def ddppo_backend(configured: str, cuda_available: bool) -> str:
    """habitat-baselines' DD-PPO backend under the plugin (sidetune_habitat_baselines): ``configured`` as written,
    or for AUTO the toolkit's own choice (`process_group_backend`) in habitat-baselines' spelling (NCCL, GLOO)."""
    if str(configured).upper() != AUTO_BACKEND:
        return str(configured)
    return process_group_backend(cuda_available).upper()


def context() -> Distributed:
    """The process's data-parallel context, started from torchrun's environment on first use."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = _start()
    return _CONTEXT


def _start() -> Distributed:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = process_group_backend(torch.cuda.is_available())
    if backend == "nccl":
        if local_rank >= torch.cuda.device_count():
            raise EnvironmentSetupError(
                f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                "start at most one process per GPU (torchrun --nproc-per-node)"
            )
        torch.cuda.set_device(local_rank)  # "cuda" now means this rank's GPU
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend, timeout=TIMEOUT)
    if rank > 0:
        sys.stdout = open(os.devnull, "w")  # one copy of the console output (rank 0's); errors still reach stderr
    return Distributed(rank, world, local_rank, backend)


def data_parallel_ppo(model: Any, dist: Distributed) -> None:
    """Make an SB3 PPO model DD-PPO-parallel in place: rank 0's weights on every rank, gradients averaged over
    the ranks before every clipping and optimizer step (nothing happens in a world of one)."""
    if not dist.enabled:
        return
    dist.broadcast_parameters(model.policy)
    dist.average_gradients(model.policy.parameters())


class GlobalFrames(BaseCallback):
    """DD-PPO frame counting: after each rollout every rank adds the other ranks' frames to its counter, so
    ``ppo.total_frames``, the checkpoint and evaluation intervals, α's schedule and trajectory and the logs count
    all ranks' frames, and every rank stops at the same update. First in the callback list."""

    def __init__(self, dist: Distributed):
        super().__init__()
        self.dist = dist

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.model.num_timesteps += (self.dist.world_size - 1) * self.model.n_steps * self.model.n_envs


class SharedStop(BaseCallback):
    """At the first step of each rollout, rank 0's stop decision (``stop_requested``: its wall-clock limit) goes
    to every rank, so that all stop after the same update. Last in the callback list, after the callbacks whose
    decision it forwards."""

    def __init__(self, dist: Distributed, stop_requested: Callable[[], bool]):
        super().__init__()
        self.dist, self.stop_requested = dist, stop_requested
        self._first_step = False

    def _on_rollout_start(self) -> None:
        self._first_step = True

    def _on_step(self) -> bool:
        first, self._first_step = self._first_step, False
        return not (first and self.dist.broadcast(bool(self.stop_requested())))


def ppo_sync_callbacks(
    dist: Distributed, callbacks: Sequence[BaseCallback]
) -> tuple[list[BaseCallback], list[BaseCallback]]:
    """The callbacks to put before and after a PPO run's own ones (none in a world of one): frame counting over
    the ranks, and rank 0's stop decision taken from ``callbacks`` that have a ``stopped`` flag."""
    if not dist.enabled:
        return [], []
    return [GlobalFrames(dist)], [SharedStop(dist, lambda: any(getattr(cb, "stopped", False) for cb in callbacks))]
