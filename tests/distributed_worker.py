"""Run by tests/test_distributed.py under ``torchrun --nproc-per-node 2``: BC for three epochs and PPO for two
updates, each interrupted on every rank and resumed as ``--resume`` would, the way scripts/bc.py and
scripts/train_ppo.py call the trainers. Each rank saves what the test compares: its parameters after every
update, the losses, the run folders. Usage: distributed_worker.py OUT_DIR"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from stable_baselines3 import PPO

import agents.trainers.bc as bc
import agents.trainers.ppo_callbacks as ppo_callbacks
from agents.run.cli import open_run
from agents.run.config_loader import load_run_config
from agents.trainers.distributed import context
from agents.trainers.ppo import run_ppo

OUT = Path(sys.argv[1])
PPO_SECTIONS = ("run", "policy", "eval", "ppo", "train")
dist = context()
record: dict = {"rank": dist.rank, "world_size": dist.world_size, "ppo_params": [], "ppo_losses": []}


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().cpu() for p in module.parameters()])


def run_bc() -> None:
    """Three epochs, killed (on every rank) during the third, resumed from the run folder."""
    cfg = load_run_config(
        "bc.yaml",
        None,
        None,
        [
            "env.resolution=32",
            "env.max_steps=20",
            "policy.base=random",
            "policy.method=scratch",
            "bc.trajectories=8",
            f"bc.pool_dir={OUT / 'pool'}",
            "bc.shard_size=5",
            "bc.generate_envs=4",
            "bc.epochs=3",
            "bc.patience=0",
            "bc.val_fraction=0.25",
            "bc.batch_size=32",
            "bc.learning_rate=0.002",
            "eval.episodes_per_building=1",
            f"run.runs_root={OUT / 'runs'}",
            "run.device=cpu",
        ],
        require=("run", "policy", "eval", "bc"),
    )
    with dist.main_first():
        bc.check_pool(cfg, progress=False)
    run, cfg, _ = dist.run_on_main(open_run, cfg, None)
    real_epoch, real_build = bc.train_epoch, bc.build_context
    contexts = []

    def dying_epoch(ctx, epoch, *args, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_epoch(ctx, epoch, *args, **kwargs)

    def build(*args, **kwargs):
        contexts.append(real_build(*args, **kwargs))
        return contexts[-1]

    bc.build_context, bc.train_epoch = build, dying_epoch
    try:
        bc.train_bc(cfg, run, progress=False)
    except KeyboardInterrupt:
        record["bc_interrupted"] = True
    bc.train_epoch = real_epoch
    run, cfg, resumed = dist.run_on_main(open_run, cfg, str(run.root))
    results = bc.train_bc(cfg, run, resumed=resumed, progress=False)
    record.update(bc_params=flat(contexts[-1].model.policy), bc_history=results.history, bc_run=str(run.root))


def buffer_loss(model: PPO) -> float:
    """PPO's loss (clipped surrogate + value + entropy terms) over this rank's whole rollout buffer."""
    data = next(model.rollout_buffer.get(batch_size=None))
    with torch.no_grad():
        values, log_prob, entropy = model.policy.evaluate_actions(data.observations, data.actions.long().flatten())
        adv = (data.advantages - data.advantages.mean()) / (data.advantages.std() + 1e-8)
        ratio = torch.exp(log_prob - data.old_log_prob)
        clip = model.clip_range(model._current_progress_remaining)
        policy = -torch.min(adv * ratio, adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
        value = torch.nn.functional.mse_loss(data.returns, values.flatten())
        return float(policy + model.vf_coef * value - model.ent_coef * entropy.mean())


def run_ppo_twice() -> None:
    """Two updates of 64 frames (32 per rank), killed after the first and resumed."""
    overrides = [
        "env.resolution=32",
        "env.max_steps=20",
        "train.num_envs=2",
        "ppo.n_steps=16",
        "ppo.batch_size=16",
        "ppo.n_epochs=4",
        "ppo.learning_rate=0.001",
        "ppo.total_frames=128",
        "train.checkpoint_every=32",
        "train.eval_every=0",
        "train.final_eval=false",
        "train.progress_bar=false",
        "policy.base=random",
        "policy.features_dim=64",
        f"run.runs_root={OUT / 'runs'}",
        "run.device=cpu",
    ]
    real_train, real_step = PPO.train, ppo_callbacks.EpisodeStatsCallback._on_step

    def train(model: PPO) -> None:
        before = buffer_loss(model)
        real_train(model)
        record["ppo_losses"].append((before, buffer_loss(model)))
        record["ppo_params"].append(flat(model.policy))

    def dying_step(self) -> bool:
        if self.num_timesteps >= 80:  # in the second rollout: after the first update and its checkpoint
            raise KeyboardInterrupt
        return real_step(self)

    PPO.train, ppo_callbacks.EpisodeStatsCallback._on_step = train, dying_step
    try:
        run_ppo(load_run_config("ppo.yaml", None, None, overrides, PPO_SECTIONS), announce=False)
    except KeyboardInterrupt:
        record["ppo_interrupted"] = True
    ppo_callbacks.EpisodeStatsCallback._on_step = real_step
    root = dist.broadcast(str(next((OUT / "runs" / "ppo").iterdir())) if dist.is_main else None)
    run, results = run_ppo(
        load_run_config("ppo.yaml", None, None, overrides, PPO_SECTIONS), resume=root, announce=False
    )
    record.update(ppo_run=str(run.root), ppo_frames=results.frames)
    record.update(ppo_frames_this_session=results.training["frames_this_session"])
    PPO.train = real_train
    limited = [*overrides, "ppo.total_frames=100000", "train.max_minutes=0.0001", "run.name=limited"]
    _, results = run_ppo(
        load_run_config("ppo.yaml", None, None, limited, PPO_SECTIONS), announce=False
    )  # rank 0's clock
    record.update(limited_stopped=results.training["stopped_by_time_limit"], limited_frames=results.frames)


run_bc()
run_ppo_twice()
torch.save(record, OUT / f"rank{dist.rank}.pt")
