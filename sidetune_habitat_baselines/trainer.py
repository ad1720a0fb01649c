"""habitat-baselines' PPO trainer (DD-PPO under torchrun) that also writes the side-tuning α to its TensorBoard."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import torch
from habitat.config import read_write
from habitat_baselines.common.baseline_registry import baseline_registry
from habitat_baselines.rl.ppo.ppo_trainer import PPOTrainer

from agents.trainers.distributed import ddppo_backend
from envs.habitat.sim_config import default_gpu_device_id


@baseline_registry.register_trainer(name="sidetune_ppo")
class SideTunePPOTrainer(PPOTrainer):
    """PPOTrainer plus ``sidetune/alpha_<name>`` scalars (rank 0 writes, as for every other scalar), and checkpoints
    that load under torch >= 2.6."""

    def __init__(self, config: Any) -> None:
        """Check the policy config before habitat-baselines starts any simulator: a bad ``sidetune.policy`` key or
        value ends the program with the toolkit's one error line and exit status 2."""
        from agents.run.cli import error_line
        from common.errors import UserError
        from sidetune_habitat_baselines.policy_config import check_plugin_config

        try:
            check_plugin_config(config)
        except UserError as err:
            print(error_line(err), file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        if "WORLD_SIZE" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
            # one process with env workers: torch's default thread pool per process oversubscribes the cores (3-4x
            # slower on a 2-core CPU); torchrun sets this itself. The workers started later inherit it.
            os.environ["OMP_NUM_THREADS"] = "1"
            torch.set_num_threads(1)
        super().__init__(config)

    def eval(self) -> None:
        """Evaluate the checkpoint file given, or every checkpoint already in the folder given, then stop
        (habitat-baselines itself polls a folder for new checkpoints forever); none there is one error line."""
        from agents.run.cli import error_line
        from common.errors import MissingFileError

        hb = self.config.habitat_baselines
        path = Path(str(hb.eval_ckpt_path_dir))
        if not hb.eval.should_load_ckpt or path.is_file():
            return super().eval()
        checkpoints = sorted(path.glob("*.pth"), key=_checkpoint_order) if path.is_dir() else []
        if not checkpoints:
            err = MissingFileError(
                "habitat_baselines.eval_ckpt_path_dir",
                f"no checkpoint in {path}",
                "train first, or give a checkpoint file (.pth)",
            )
            print(error_line(err), file=sys.stderr, flush=True)
            raise SystemExit(2)
        for checkpoint in checkpoints:
            with read_write(self.config):
                self.config.habitat_baselines.eval_ckpt_path_dir = str(checkpoint)
            super().eval()
        return None

    def _init_train(self, resume_state: Any = None) -> None:
        """DD-PPO's backend as the config says, AUTO (the plugin's default) being NCCL with CUDA and GLOO without."""
        with read_write(self.config):
            ddppo = self.config.habitat_baselines.rl.ddppo
            ddppo.distrib_backend = ddppo_backend(ddppo.distrib_backend, torch.cuda.is_available())
        super()._init_train(resume_state)

    def _init_envs(self, config: Any = None, is_eval: bool = False) -> None:
        """Each rank's simulators render on its own GPU (LOCAL_RANK, as DD-PPO sets it), or on EGL device -1 (any)
        without CUDA or when EGL offers no such CUDA device (one warning): habitat-sim would abort with "unable to
        find CUDA device 1 among 1 EGL devices" on a CPU machine."""
        device_id = default_gpu_device_id()
        for cfg in {id(c): c for c in (self.config, config) if c is not None}.values():
            with read_write(cfg):
                cfg.habitat.simulator.habitat_sim_v0.gpu_device_id = device_id
        super()._init_envs(config, is_eval)

    def load_checkpoint(self, checkpoint_path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """habitat-baselines 0.3.3 stores its OmegaConf config in every checkpoint, which torch >= 2.6's default
        ``weights_only=True`` refuses; this trainer's evaluator loads the checkpoints its own training wrote."""
        kwargs.setdefault("weights_only", False)
        return torch.load(checkpoint_path, *args, **kwargs)

    def _training_log(self, writer: Any, losses: dict[str, float], prev_time: int = 0) -> None:
        super()._training_log(writer, losses, prev_time)
        if writer is None:  # DD-PPO ranks other than 0 have no writer
            return
        policy = self._agent.actor_critic
        policy = getattr(policy, "module", policy)  # DDP wraps nothing here, but stay safe
        for name, value in (policy.alphas() if hasattr(policy, "alphas") else {}).items():
            writer.add_scalar(f"sidetune/alpha_{name}", value, self.num_steps_done)


def _checkpoint_order(path: Path) -> tuple[int, str]:
    """habitat-baselines' ``ckpt.<N>.pth`` files in training order (N numerically), others after them by name."""
    match = re.fullmatch(r"ckpt\.(\d+)\.pth", path.name)
    return (int(match.group(1)), "") if match else (1 << 30, path.name)
