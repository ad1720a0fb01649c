"""Behaviour cloning: train the PPO model's policy on shortest-path-expert actions (cross-entropy).

The model is the one SB3 PPO model every trainer shares (`agents.run.model_builder.build_model`, same extractor
and method encoder), so a BC checkpoint (``<run>/checkpoints/{best,last}.zip``) is evaluated by
`agents.evaluation.evaluate` and fine-tuned by ``train_ppo.py --init-from RUN_DIR`` unchanged. Only the actor path
(extractor -> actor MLP -> action logits) gets gradients; the value head keeps its initialisation.

Data: the first N trajectories of the fixed pool (`agents.trainers.trajectories`), split into training and
validation trajectories; observations are rebuilt per batch (`agents.trainers.bc_data`). With a frozen base the
base features come from the feature cache (`agents.trainers.feature_cache`). Early stopping on validation loss
picks ``best.zip``; the end of training evaluates it on the held-out buildings -> ``results.json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agents.evaluation.alpha_probe import probe_after_training
from agents.evaluation.results import RunResults, write_run_results
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import build_model, checkpoint_disk_full, load_model, write_model
from agents.run.run_config import BCSettings, RunConfig
from agents.run.run_dir import RunDir
from agents.run.threads import set_threads
from agents.trainers.bc_data import ObservationBuilder
from agents.trainers.distributed import context
from agents.trainers.feature_cache import FeatureCache
from agents.trainers.run_device import setup_run_device
from agents.trainers.trajectories import (
    TrajectoryPool,
    TrajectoryPoolError,
    TrajectorySet,
    default_pool_dir,
    generate_pool,
)
from common.atomic_io import atomic_paths, check_writable
from common.errors import BadInputError, MissingFileError, NotWritableError
from envs.config import EnvConfig
from policies.extractor import BASE_FEATURES_KEY
from policies.methods import method_spec
from policies.optim import SideTuneAdam
from policies.precision import training_autocast

STATE_FILE = "bc_state.pt"


def pool_dir_of(s: BCSettings, env_cfg: EnvConfig) -> Path:
    """The pool folder: `bc.pool_dir`, or the default for the backend, resolution and seed."""
    return Path(s.pool_dir) if s.pool_dir else default_pool_dir(env_cfg, s.pool_seed)


def open_pool(s: BCSettings, env_cfg: EnvConfig, n: int, generate: bool, progress: bool = True) -> TrajectoryPool:
    """The run's pool holding at least ``n`` trajectories (made or extended only when ``generate``)."""
    root = pool_dir_of(s, env_cfg)
    have = TrajectoryPool(root).num_trajectories if (root / "manifest.json").exists() else 0
    if have < n and generate:
        check_writable(root, "bc.pool_dir")  # before any output: a read-only pool is one line
        print(
            f"trajectory pool {root} holds {have} trajectories, fewer than {n}: generating the rest (bc.generate=true)"
        )
        bar = _bar(n, progress, "expert trajectories", "traj")
        bar.update(have)

        def report(done: int, total: int) -> None:
            bar.update(done - bar.n)

        generate_pool(env_cfg, root, n, s.pool_seed, s.shard_size, s.generate_envs, s.storage, report)
        bar.close()
    if not (root / "manifest.json").exists():
        raise TrajectoryPoolError(
            f"bc.pool_dir: no trajectory pool at {root} "
            f"(make it with `python scripts/make_trajectories.py --trajectories {n} "
            f"--pool-dir {root} --seed {s.pool_seed}` plus this run's env.* overrides, or set bc.generate=true)"
        )
    pool = TrajectoryPool(root)
    pool.check_compatible(env_cfg)
    return pool


def check_pool(cfg: RunConfig, progress: bool = True) -> TrajectoryPool:
    """Open (making or extending when `bc.generate`) the run's pool and read its first N trajectories, so bad
    input fails before a run folder is created."""
    cfg.require("bc")
    s, env_cfg = cfg.bc, cfg.env
    pool = open_pool(s, env_cfg, s.trajectories, s.generate, progress)
    pool.load(s.trajectories, auto_stop=env_cfg.auto_stop, env_cfg=env_cfg)
    pool.verify_frames(env_cfg)
    check_cache_writable(cfg, pool.root)
    return pool


def cache_root_of(s: BCSettings, pool_root: Path) -> Path:
    """The feature caches' folder: `bc.cache_dir`, or ``feature_cache/`` inside the pool."""
    return Path(s.cache_dir) if s.cache_dir else Path(pool_root) / "feature_cache"


def check_cache_writable(cfg: RunConfig, pool_root: Path) -> None:
    """A one-line error naming bc.cache_dir, before any run folder exists, when a run that will build a feature
    cache (bc.feature_cache on, a frozen base, no augmentation) cannot write where the cache goes (e.g. a
    read-only pool). A folder that already holds caches may hold this run's, which is only read."""
    s = cfg.bc
    spec = method_spec(cfg.policy.method)
    if not (s.feature_cache and spec is not None and spec.frozen_base and s.augment == "none"):
        return
    root = cache_root_of(s, pool_root)
    if root.is_dir() and any(root.iterdir()):
        return
    try:
        check_writable(root, "bc.cache_dir")
    except NotWritableError:
        raise NotWritableError(
            "bc.cache_dir",
            f"the frozen base's feature cache cannot be written at {root} (Permission denied)",
            "set bc.cache_dir to a writable folder, or bc.feature_cache=false",
        ) from None


def split_trajectories(count: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation trajectory ids (disjoint; a seeded shuffle; at least one of each when count >= 2)."""
    order = np.random.default_rng(np.random.SeedSequence([seed, 1234])).permutation(count)
    n_val = int(round(val_fraction * count))
    if val_fraction > 0 and count >= 2:
        n_val = min(max(n_val, 1), count - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def steps_of(data: TrajectorySet, trajectories: np.ndarray) -> np.ndarray:
    """All step indices of the given trajectories."""
    if len(trajectories) == 0:
        return np.zeros(0, np.int64)
    return np.concatenate([np.arange(data.offsets[t], data.offsets[t + 1]) for t in trajectories]).astype(np.int64)


def policy_logits(policy: Any, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Action logits of an SB3 ActorCriticPolicy for float observation tensors (optionally with cached base
    features): the same path as ``policy.get_distribution`` (extractor -> actor MLP -> action_net)."""
    features = policy.features_extractor(dict(obs))
    latent_pi = policy.mlp_extractor.forward_actor(features)
    return policy.action_net(latent_pi)


class ActorLogits(torch.nn.Module):
    """``policy_logits`` as a module, so that DistributedDataParallel can wrap BC's training forward."""

    def __init__(self, policy: Any) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return policy_logits(self.policy, obs)


def color_jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-image brightness (x0.8-1.2) and offset (+-20) jitter of uint8 frames (the only augmentation)."""
    gain = rng.uniform(0.8, 1.2, size=(len(rgb), 1, 1, 1))
    offset = rng.uniform(-20.0, 20.0, size=(len(rgb), 1, 1, 1))
    return np.clip(rgb.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


@dataclass
class BCContext:
    """Everything one BC run works on: data, observation builder, model, optimizer, cache."""

    cfg: RunConfig
    settings: BCSettings
    env_cfg: EnvConfig
    pool: TrajectoryPool
    data: TrajectorySet
    builder: ObservationBuilder
    model: Any
    optimizer: torch.optim.Optimizer
    params: list[torch.nn.Parameter]
    train_steps: np.ndarray
    val_steps: np.ndarray
    train_trajectories: np.ndarray
    val_trajectories: np.ndarray
    device: str
    actor: torch.nn.Module  # obs -> logits for training (in DistributedDataParallel under torchrun)
    cache: FeatureCache | None = None
    global_step: int = 0  # optimizer steps
    frames_seen: int = 0  # training samples seen: the unit of the alpha schedules (as PPO's frames)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> Any:
        return self.model.policy

    @property
    def extractor(self) -> Any:
        return self.model.policy.features_extractor

    @property
    def needs_rgb(self) -> bool:
        """Whether batches need frames: always without a cache; with it only for a side network."""
        return self.cache is None or self.extractor.encoder.side is not None


def make_optimizer(model: Any, settings: BCSettings) -> tuple[torch.optim.Optimizer, list[torch.nn.Parameter]]:
    """The policy's optimizer (policies.optim.SideTuneAdam: weight decay on all but α, α at policy.alpha_lr)."""
    params = [p for p in model.policy.parameters() if p.requires_grad]
    alpha_lr = model.policy.features_extractor.config.alpha_lr
    optimizer = SideTuneAdam(params, lr=settings.learning_rate, alpha_lr=alpha_lr, weight_decay=settings.weight_decay)
    return optimizer, params


def build_context(cfg: RunConfig, progress: bool = True, generate: bool | None = None) -> BCContext:
    """Load the trajectories, build the model and optimizer (no cache yet) for the config ``cfg``."""
    cfg.require("run", "policy", "eval", "bc")
    s, seed = cfg.bc, cfg.run.seed
    set_threads(s.threads)  # survives the first render (agents/run/threads.py)
    torch.manual_seed(seed)
    env_cfg = cfg.env
    n = s.trajectories
    with context().main_first():  # under torchrun rank 0 makes or extends the pool, then the others read it
        pool = open_pool(s, env_cfg, n, s.generate if generate is None else generate, progress)
    data = pool.load(n, auto_stop=env_cfg.auto_stop, env_cfg=env_cfg)
    pool.verify_frames(env_cfg)
    builder = ObservationBuilder(data, env_cfg, cfg.frame_stack)
    train_t, val_t = split_trajectories(n, s.val_fraction, seed)
    device = setup_run_device(cfg)
    venv = make_vec_env(cfg, 1, env_cfg.split, seed)
    model = build_model(cfg, venv, device=device)
    venv.close()
    n_actions = int(model.action_space.n)
    if data.actions.max(initial=0) >= n_actions or data.actions.min(initial=0) < 0:
        raise BadInputError(
            f"env.auto_stop: the pool's expert actions do not fit the model's {n_actions} actions "
            "(use the pool's env settings)"
        )
    optimizer, params = make_optimizer(model, s)
    return BCContext(
        cfg=cfg,
        settings=s,
        env_cfg=env_cfg,
        pool=pool,
        data=data,
        builder=builder,
        model=model,
        optimizer=optimizer,
        params=params,
        train_steps=steps_of(data, train_t),
        val_steps=steps_of(data, val_t),
        train_trajectories=train_t,
        val_trajectories=val_t,
        device=device,
        actor=context().wrap(ActorLogits(model.policy)),
    )


def wants_cache(ctx: BCContext) -> bool:
    """Whether a run of ctx's settings trains on the frozen base's cached features: bc.feature_cache is on, the
    method has a frozen base and the frames are not augmented."""
    return bool(ctx.settings.feature_cache and ctx.extractor.encoder.base_frozen and ctx.settings.augment == "none")


def attach_cache(ctx: BCContext, progress: bool = True) -> FeatureCache:
    """Build or open the feature cache of the frozen base for ctx's data; BC batches then use it."""
    encoder = ctx.extractor.encoder
    if not encoder.base_frozen:
        raise BadInputError(f"method {encoder.method!r} has no frozen base, so there is nothing to cache")
    if ctx.settings.augment != "none":
        raise BadInputError(
            "bc.augment: changes the frames, so cached base features would not match them "
            "(set bc.feature_cache=false or bc.augment=none)"
        )
    s = ctx.settings
    root = cache_root_of(s, ctx.pool.root)
    identity = {
        "pool": [e["sha256"] for e in ctx.pool.manifest["shards"] if e["first"] < s.trajectories],
        "trajectories": s.trajectories,
        "auto_stop": ctx.env_cfg.auto_stop,
        "steps": ctx.data.num_steps,
        "render": [ctx.env_cfg.resolution, ctx.env_cfg.hfov_deg, ctx.env_cfg.camera_height],
        "base_dtype": str(encoder.base.dtype_for(torch.device(ctx.device))),  # the frozen base's inference numerics
    }
    with context().main_first():  # under torchrun rank 0 builds a missing cache, the others open it
        ctx.cache = FeatureCache.build_or_open(
            encoder.base, ctx.extractor.rgb_scaler, ctx.builder, root, identity, device=ctx.device, progress=progress
        )
    return ctx.cache


def batch_tensors(ctx: BCContext, steps: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """Observation tensors of ``steps`` as the policy's extractor takes them (float; uint8 images the extractor
    scales itself stay uint8, as `SideTunePolicy` hands them over; cached features added)."""
    obs = ctx.builder.batch(steps, with_rgb=ctx.needs_rgb)
    if rng is not None and ctx.settings.augment == "color" and "rgb" in obs:
        obs["rgb"] = color_jitter(obs["rgb"], rng)
    raw = set(getattr(ctx.policy.features_extractor, "raw_image_keys", ()))
    out = {}
    for key, value in obs.items():
        tensor = torch.as_tensor(value, device=ctx.device)
        out[key] = tensor if key in raw and tensor.dtype == torch.uint8 else tensor.float()
    if ctx.cache is not None:
        source, valid = ctx.builder.stacked_steps(steps)
        out[BASE_FEATURES_KEY] = torch.as_tensor(ctx.cache.lookup(source, valid), device=ctx.device)
    return out


def train_epoch(ctx: BCContext, epoch: int, progress: bool = True, max_batches: int | None = None) -> dict[str, float]:
    """One pass over the training steps in a seeded order; returns mean loss, accuracy, entropy, seconds."""
    s = ctx.settings
    rng = np.random.default_rng(np.random.SeedSequence([ctx.cfg.run.seed, epoch]))
    dist = context()
    order = dist.shard(rng.permutation(ctx.train_steps))  # this rank's share of the epoch (all of it without torchrun)
    batch = s.batch_size
    n_batches = math.ceil(len(order) / batch)
    if max_batches:
        n_batches = min(n_batches, int(max_batches))
    ctx.policy.set_training_mode(True)
    totals = {"loss": 0.0, "accuracy": 0.0, "entropy": 0.0}
    count = 0
    started = time.perf_counter()
    bar = _bar(n_batches, progress and dist.is_main, f"epoch {epoch + 1}", "batch")
    for b in range(n_batches):
        idx = order[b * batch : (b + 1) * batch]
        obs = batch_tensors(ctx, idx, rng)
        target = torch.as_tensor(ctx.data.actions[idx], device=ctx.device)
        with training_autocast(ctx.policy.features_extractor.config.train_precision, ctx.device):
            logits = ctx.actor(obs)
        logits = logits.float()  # the loss in fp32 whatever the trunk ran in (policy.train_precision)
        ce = F.cross_entropy(logits, target)
        entropy = torch.distributions.Categorical(logits=logits).entropy().mean()
        loss = ce - s.entropy_coef * entropy
        ctx.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ctx.params, s.grad_clip)
        ctx.optimizer.step()
        k = len(idx)
        ctx.global_step += 1
        ctx.frames_seen += k * dist.world_size  # every rank's samples (equal shards)
        ctx.extractor.set_step(ctx.frames_seen)
        totals["loss"] += float(ce.detach()) * k
        totals["accuracy"] += float((logits.argmax(1) == target).float().sum())
        totals["entropy"] += float(entropy.detach()) * k
        count += k
        bar.update(1)
        bar.set_postfix(loss=f"{totals['loss'] / count:.3f}", acc=f"{totals['accuracy'] / count:.2f}")
    bar.close()
    *sums, count = dist.sum([*totals.values(), count])  # all ranks' frames
    out = {key: value / max(count, 1) for key, value in zip(totals, sums, strict=False)}
    out.update(seconds=time.perf_counter() - started, frames=int(count))
    return out


@torch.no_grad()
def validate(ctx: BCContext, max_batches: int | None = None) -> dict[str, float]:
    """Mean cross-entropy and accuracy over the validation steps (eval mode, fixed order)."""
    if len(ctx.val_steps) == 0:
        return {"loss": float("nan"), "accuracy": float("nan")}
    ctx.policy.set_training_mode(False)
    dist = context()
    steps = np.array_split(ctx.val_steps, dist.world_size)[dist.rank]  # this rank's part (all of it without torchrun)
    batch = max(ctx.settings.batch_size, 256)
    loss = acc = 0.0
    count = 0
    for b, lo in enumerate(range(0, len(steps), batch)):
        if max_batches and b >= int(max_batches):
            break
        idx = steps[lo : lo + batch]
        target = torch.as_tensor(ctx.data.actions[idx], device=ctx.device)
        logits = policy_logits(ctx.policy, batch_tensors(ctx, idx))
        loss += float(F.cross_entropy(logits, target, reduction="sum"))
        acc += float((logits.argmax(1) == target).float().sum())
        count += len(idx)
    loss, acc, count = dist.sum([loss, acc, count])
    return {"loss": loss / count, "accuracy": acc / count}


def _save_epoch(ctx: BCContext, run: RunDir, state: dict[str, Any], improved: bool) -> None:
    """Write a finished epoch's checkpoint set as one unit: ``last.zip``, ``best.zip`` when it improved, and
    the trainer state --resume reads with ``last.zip`` (optimizer, epoch, early-stopping bookkeeping). A full
    disk (one line, DiskFullError) or an interrupt leaves the previous epoch's set as it was, never a
    ``last.zip`` ahead of its state."""
    names = ["last.zip", *(["best.zip"] if improved else []), STATE_FILE]
    with checkpoint_disk_full(run.checkpoints), atomic_paths(*(run.checkpoints / n for n in names)) as tmp:
        for path in tmp[:-1]:
            write_model(ctx.model, path)
        trainer_state = {
            "optimizer": ctx.optimizer.state_dict(),
            "global_step": ctx.global_step,
            "frames_seen": ctx.frames_seen,
            **state,
        }
        with open(tmp[-1], "wb") as handle:  # a handle: a full disk is then an OSError, not torch's RuntimeError
            torch.save(trainer_state, handle)


def heldout_eval(model: Any, cfg: RunConfig, episodes_per_building: int | None, progress: bool) -> dict[str, Any]:
    """Held-out success/SPL through the shared evaluator (agents.evaluation.evaluate); None:
    eval.episodes_per_building."""
    from agents.evaluation.evaluate import evaluate_policy

    return evaluate_policy(
        model, cfg, cfg.eval.replace(episodes_per_building=episodes_per_building, videos=0), progress=progress
    )


def train_bc(cfg: RunConfig, run: RunDir, resumed: bool = False, progress: bool = True) -> RunResults:
    """Train (or resume) a BC run in ``run``; write checkpoints, TensorBoard, results.json; return results."""
    from torch.utils.tensorboard import SummaryWriter

    wall = time.perf_counter()
    ctx = build_context(cfg, progress)
    s = ctx.settings
    if wants_cache(ctx):
        attach_cache(ctx, progress)
    alphas = ctx.extractor.alphas()
    state: dict[str, Any] = {
        "epoch": 0,
        "best_val_loss": float("inf"),
        "best_epoch": -1,
        "bad_epochs": 0,
        "history": [],
        "alpha_trajectory": [[0, alphas]] if alphas else [],
    }
    if resumed:
        state = _resume(ctx, run, state)
    dist = context()  # under torchrun every rank trains; rank 0 alone logs, checkpoints and evaluates
    writer = SummaryWriter(str(run.tensorboard)) if dist.is_main else None
    epochs, patience = s.planned_epochs, s.patience
    stopped_early = False
    print(
        f"BC: {ctx.data.num_trajectories} trajectories "
        f"({len(ctx.train_steps)} training / {len(ctx.val_steps)} validation "
        f"frames), method {ctx.extractor.encoder.method}, {epochs} epochs, cache {'on' if ctx.cache else 'off'}",
        flush=True,
    )
    for epoch in range(int(state["epoch"]), epochs):
        if state["bad_epochs"] >= patience > 0:
            stopped_early = True
            break
        tr = train_epoch(ctx, epoch, progress, s.max_batches_per_epoch)
        va = validate(ctx, s.max_batches_per_epoch)
        improved = (
            math.isnan(va["loss"]) or va["loss"] < state["best_val_loss"]
        )  # no validation data: the last epoch is best
        if improved:
            state.update(best_val_loss=va["loss"], best_epoch=epoch + 1, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        if writer is None:
            state["epoch"] = epoch + 1
            continue
        alphas = ctx.extractor.alphas()
        if alphas:  # [frames trained, {name: α}] after each epoch, as PPO's per rollout
            state.setdefault("alpha_trajectory", []).append([ctx.frames_seen, alphas])
        row = {
            "epoch": epoch + 1,
            "train_loss": tr["loss"],
            "train_accuracy": tr["accuracy"],
            "val_loss": va["loss"],
            "val_accuracy": va["accuracy"],
            "epoch_seconds": tr["seconds"],
            **alphas,
        }
        for key, value in (
            ("train/loss", tr["loss"]),
            ("train/accuracy", tr["accuracy"]),
            ("train/entropy", tr["entropy"]),
            ("val/loss", va["loss"]),
            ("val/accuracy", va["accuracy"]),
            ("time/epoch_seconds", tr["seconds"]),
            ("time/frames_per_second", tr["frames"] / max(tr["seconds"], 1e-9)),
        ):
            writer.add_scalar(key, value, epoch + 1)
        for name, value in alphas.items():
            writer.add_scalar(f"policy/{name}", value, epoch + 1)
        every = s.eval_every
        if every and (epoch + 1) % every == 0 and epoch + 1 < epochs:
            ev = heldout_eval(ctx.model, cfg, s.eval_episodes_per_building, progress)
            writer.add_scalar("eval/success", _mean(ev, "success"), epoch + 1)
            writer.add_scalar("eval/spl", _mean(ev, "spl"), epoch + 1)
            row.update(eval_success=_mean(ev, "success"), eval_spl=_mean(ev, "spl"))
        state["history"].append(row)
        state["epoch"] = epoch + 1
        _save_epoch(ctx, run, state, improved)
        writer.flush()
        print(
            f"epoch {epoch + 1}/{epochs}: train loss {tr['loss']:.4f} acc {tr['accuracy']:.3f} | val loss "
            f"{va['loss']:.4f} acc {va['accuracy']:.3f} | {tr['seconds']:.1f}s"
            + (f" | alpha {alphas['alpha']:.3f}" if "alpha" in alphas else ""),
            flush=True,  # a log file or pipe shows each epoch as it ends
        )
    train_seconds = time.perf_counter() - wall
    if writer is None:
        return dist.broadcast(None)  # rank 0's results, once it has evaluated
    best = load_model(run.checkpoints / "best.zip", device=ctx.device)
    ev = heldout_eval(best, cfg, None, progress)
    writer.add_scalar("eval/success", _mean(ev, "success"), int(state["epoch"]))
    writer.add_scalar("eval/spl", _mean(ev, "spl"), int(state["epoch"]))
    writer.close()
    training = {
        "trajectories": ctx.data.num_trajectories,
        "train_frames": int(len(ctx.train_steps)),
        "val_frames": int(len(ctx.val_steps)),
        "epochs_planned": epochs,
        "stopped_early": stopped_early or (state["bad_epochs"] >= patience > 0 and state["epoch"] < epochs),
        "best_epoch": int(state["best_epoch"]),
        "best_val_loss": float(state["best_val_loss"]),  # NaN (null in the file) without validation data
        "feature_cache": ctx.cache is not None,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - wall,
        "checkpoint": str(run.checkpoints / "best.zip"),
    }
    results = write_run_results(
        run,
        cfg,
        "bc",
        ctx.frames_seen,
        ev,
        best.policy.features_extractor.alphas(),
        state.get("alpha_trajectory", []),
        training,
        device=str(ctx.device),
        world_size=dist.world_size if dist.enabled else None,  # each epoch's steps shared among the ranks
        dataset_frames=ctx.data.num_steps,
        epochs=int(state["epoch"]),
        history=state["history"],
        alpha_probe=probe_after_training(best, cfg) if dist.is_main else None,
    )
    return dist.broadcast(results)


def _mean(result: Mapping[str, Any], key: str) -> float:
    """The mean of an evaluator summary entry ({'mean': ..., 'ci95': ...}) or a plain number."""
    value = result[key]
    return float(value["mean"] if isinstance(value, Mapping) else value)


def _resume(ctx: BCContext, run: RunDir, state: dict[str, Any]) -> dict[str, Any]:
    """Restore model weights, optimizer and bookkeeping from ``run``'s last checkpoint."""
    last, state_file = run.checkpoints / "last.zip", run.checkpoints / STATE_FILE
    if not state_file.is_file() and not (run.checkpoints / "best.zip").is_file():
        print(f"{run.checkpoints} holds no finished epoch: training starts at epoch 1", flush=True)
        return state  # its first save never landed (e.g. a full disk): the fresh model is where it stood
    if not last.is_file() or not state_file.is_file():
        raise MissingFileError(
            f"--resume {run.root}: no last.zip and {STATE_FILE} in {run.checkpoints}; the run never finished an epoch"
        )
    loaded = load_model(last, device=ctx.device)
    ctx.model.policy.load_state_dict(loaded.policy.state_dict())
    saved = torch.load(state_file, map_location=ctx.device, weights_only=False)
    ctx.optimizer.load_state_dict(saved.pop("optimizer"))
    ctx.global_step = int(saved.pop("global_step"))
    ctx.frames_seen = int(saved.pop("frames_seen", ctx.global_step * ctx.settings.batch_size))
    ctx.extractor.set_step(ctx.frames_seen)
    state.update(saved)
    return state


def benchmark_cache(cfg: RunConfig, progress: bool = True) -> dict[str, Any]:
    """Time one training epoch without and then with the feature cache on the same data and model."""
    ctx = build_context(cfg, progress)
    max_batches = ctx.settings.max_batches_per_epoch
    ctx.cache = None
    plain = train_epoch(ctx, 0, progress, max_batches)
    started = time.perf_counter()
    cache = attach_cache(ctx, progress)
    build = time.perf_counter() - started
    cached = train_epoch(ctx, 1, progress, max_batches)
    return {
        "method": ctx.extractor.encoder.method,
        "trajectories": ctx.data.num_trajectories,
        "train_frames": plain["frames"],
        "epoch_seconds_without_cache": plain["seconds"],
        "epoch_seconds_with_cache": cached["seconds"],
        "speedup": plain["seconds"] / max(cached["seconds"], 1e-9),
        "cache_open_seconds": build,  # opening (or building, when absent) the cache in this run
        "cache_build_seconds": cache.build_seconds,  # what building it took (recorded when it was built)
        "cache_bytes": cache.nbytes,
        "cache_folder": str(cache.folder),
        "threads": torch.get_num_threads(),
    }


def _bar(total: int, enabled: bool, desc: str, unit: str) -> Any:
    """A tqdm progress bar (silent when disabled)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)
