"""PPO training of the side-tuning policy (SB3 PPO, ``MultiInputPolicy`` + ``SideTuneExtractor``).

``run_ppo(cfg, resume=...)`` is the one entry point (scripts/train_ppo.py is a thin CLI over it):
everything that can be wrong with the input (method, base, backend, resolution, a resume folder without a
checkpoint or with another config, an ``init_from`` run with other spaces) is checked *before* a run
folder is created or touched. Training uses the shared env pipeline (agents/run/env_builder.py), the shared
model build/save/load (agents/run/model_builder.py) and the shared evaluator (agents/evaluation/evaluate.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.logger import configure as configure_logger
from stable_baselines3.common.vec_env import VecEnv

from agents.evaluation.alpha_probe import probe_after_training
from agents.evaluation.results import RunResults, write_run_results
from agents.run.cli import config_differences, open_run, read_run_config
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import (
    CHECKPOINT_NAMES,
    CheckpointError,
    build_model,
    check_spaces,
    find_checkpoint,
    load_model,
)
from agents.run.run_config import RunConfig
from agents.run.run_dir import RunDir
from agents.run.threads import set_threads
from agents.trainers.alpha_callback import AlphaCallback
from agents.trainers.distributed import context, data_parallel_ppo, ppo_sync_callbacks
from agents.trainers.ppo_callbacks import (
    MILESTONES,
    EpisodeStatsCallback,
    EvalCheckpointCallback,
    ProgressCallback,
    WallClockLimit,
)
from agents.trainers.rollout_env import device_resident_env
from agents.trainers.run_device import setup_run_device

ALPHA_TRAJECTORY = "alpha_trajectory.json"  # α per rollout, rewritten as training goes, so a resumed run keeps it


def _set_threads(threads: int | None) -> None:
    """Pin torch's and numba's threads when the config asks (null keeps torch's default: all cores), so
    that the count survives the first render (agents/run/threads.py)."""
    set_threads(threads)


def init_policy_from(model: PPO, source: str | Path, venv: VecEnv, cfg: RunConfig, device: str) -> Path:
    """Copy the policy weights of another run's checkpoint (e.g. behaviour cloning) into ``model``.

    The source must have the same observation and action spaces and the same policy architecture; the
    optimizer starts fresh. Returns the checkpoint used."""
    ckpt = find_checkpoint(source, prefer="best")
    loaded = load_model(ckpt, device=device)
    check_spaces(loaded, venv, f"--init-from {ckpt}")
    theirs, ours = loaded.policy.state_dict(), model.policy.state_dict()
    mismatched = sorted(
        set(theirs) ^ set(ours) | {k for k in set(theirs) & set(ours) if theirs[k].shape != ours[k].shape}
    )
    if mismatched:
        hint = ""
        source_run = Path(source) if Path(source).is_dir() else ckpt.parent.parent
        if (source_run / "config.yaml").is_file():
            saved = read_run_config(RunDir.open(source_run))
            diffs = config_differences(saved.to_dict().get("policy") or {}, cfg.to_dict()["policy"], "policy.")
            if diffs:
                hint = f"; the policy configs differ: {'; '.join(diffs[:6])}"
        raise CheckpointError(
            f"--init-from {ckpt}: its policy has another architecture ({len(mismatched)} mismatched tensors, "
            f"e.g. {mismatched[:3]}){hint}; train with the same policy: settings as that run"
        )
    model.policy.load_state_dict(theirs)
    return ckpt


def _read_json(path: Path, default: Any) -> Any:
    """A JSON file's content, or ``default`` when it is absent."""
    return json.loads(path.read_text()) if path.is_file() else default


def _make_evaluator(cfg: RunConfig, episodes_per_building: int | None) -> Any:
    """``model -> result`` over the held-out subset used for periodic evaluation (agents/evaluation/evaluate.py)."""
    from agents.evaluation.evaluate import evaluate_policy

    settings = cfg.eval.replace(episodes_per_building=episodes_per_building, videos=0)

    def evaluate(model: PPO) -> dict[str, Any]:
        return evaluate_policy(model, cfg, settings, progress=False)

    return evaluate


def has_checkpoint(run: RunDir) -> bool:
    """Whether a run folder holds a checkpoint to continue from."""
    return any((run.checkpoints / name).is_file() for name in CHECKPOINT_NAMES)


def run_ppo(
    cfg: RunConfig, resume: str | None = None, progress: bool | None = None, announce: bool = True
) -> tuple[RunDir, RunResults]:
    """Train (or resume) PPO as ``cfg`` says; returns the run folder and the final results (results.json)."""
    cfg.require("run", "policy", "eval", "ppo", "train")
    resumed_run: RunDir | None = None
    if resume:
        # rank 0 checks the config, takes the run folder's lock and removes stale temp files; every rank gets the run
        resumed_run, cfg, _ = context().run_on_main(open_run, cfg, resume)
        cfg.require("run", "policy", "eval", "ppo", "train")
        checkpoint = has_checkpoint(resumed_run) and find_checkpoint(resumed_run.root, prefer="last")
    train = cfg.train
    _set_threads(train.threads)
    device = setup_run_device(cfg)
    seed = cfg.run.seed
    total = cfg.ppo.total_frames
    dist = context()  # under torchrun: DD-PPO, each rank with its own envs and seed (docs/scaling.md)
    venv = device_resident_env(  # camera images stay tensors where the renderer and the policy share a device
        make_vec_env(cfg, train.num_envs, cfg.env.split, dist.rank_seed(seed)), device
    )
    try:
        if resumed_run is not None and checkpoint:
            model = load_model(checkpoint, device=device, env=venv)
            if model.n_steps != cfg.ppo.n_steps or model.n_envs != venv.num_envs:
                raise CheckpointError(
                    f"--resume: {checkpoint} was trained with another rollout shape (resume with the run's config)"
                )
            model.set_random_seed(
                dist.rank_seed(seed) + model.num_timesteps
            )  # new episodes and action noise, not a replay
            run = resumed_run
        else:
            model = build_model(cfg, venv, device=device)
            if dist.rank:  # PPO(seed=...) reseeded the envs with the run's seed: this rank gets its own episodes
                model.set_random_seed(dist.rank_seed(seed))
            if train.init_from:
                init_policy_from(model, train.init_from, venv, cfg, device)
            if resumed_run is not None:  # its first checkpoint was never written (e.g. a full disk): start over
                print(f"{resumed_run.checkpoints} holds no checkpoint: training starts at frame 0", flush=True)
                run = resumed_run
            else:
                run, cfg, _ = dist.run_on_main(open_run, cfg, None)  # only now: every input has been checked
        data_parallel_ppo(model, dist)
        if announce:
            print(f"run folder: {run.root}", flush=True)
            if model.device_observation_keys:
                keys = ", ".join(model.device_observation_keys)
                print(f"device-resident rollout: {keys} stay on {model.device}", flush=True)
        return run, _train(model, cfg, run, total, bool(resumed_run is not None and checkpoint), progress)
    finally:
        venv.close()


def _train(model: PPO, cfg: RunConfig, run: RunDir, total: int, resumed: bool, progress: bool | None) -> RunResults:
    """The training loop proper (callbacks, learn, final checkpoint and evaluation)."""
    settings = cfg.train
    start_frames = int(model.num_timesteps)
    dist = context()  # ranks other than 0 only train: no logs, checkpoints, evaluation or results
    model.set_logger(configure_logger(str(run.tensorboard), ["tensorboard"]) if dist.is_main else Logger(None, []))
    history = [row for row in _read_json(run.root / "eval_history.json", []) if row["frames"] <= start_frames]
    best = _read_json(run.checkpoints / "best.json", None) if resumed else None
    evaluator = _make_evaluator(cfg, settings.eval_episodes_per_building) if settings.eval_every > 0 else None
    checkpoints = EvalCheckpointCallback(
        run.root,
        settings.checkpoint_every,
        settings.eval_every,
        evaluator,
        eval_at_start=settings.eval_at_start and total >= settings.eval_every,  # a curve needs a 2nd point
        start_frames=start_frames,
        history=history,
        best=best,
        milestones=[m for m in settings.milestones if m < total],  # the final evaluation covers the last
        evaluate_full=_make_evaluator(cfg, cfg.eval.episodes_per_building),
    )
    stats = EpisodeStatsCallback(excluded_seconds=lambda: checkpoints.eval_seconds)
    kept_alphas = [row for row in _read_json(run.root / ALPHA_TRAJECTORY, []) if row[0] <= start_frames]
    alpha = AlphaCallback(kept_alphas, run.root / ALPHA_TRAJECTORY if dist.is_main else None)
    callbacks = [alpha, stats]
    if settings.max_minutes is not None and dist.is_main:
        callbacks.append(WallClockLimit(settings.max_minutes * 60.0))
    show = settings.progress_bar if progress is None else progress
    bar = ProgressCallback(total, stats, enabled=show, excluded_seconds=lambda: checkpoints.eval_seconds)
    started = time.perf_counter()
    remaining = max(0, total - start_frames)
    if remaining > 0:
        before, after = ppo_sync_callbacks(dist, callbacks)
        try:
            model.learn(
                remaining,
                callback=CallbackList([*before, *callbacks, *([bar, checkpoints] if dist.is_main else []), *after]),
                reset_num_timesteps=not resumed,
                log_interval=1,
            )
        except BaseException:
            bar.on_training_end()  # the bar's last line before the error's (a full disk, an interrupt)
            raise
    elif dist.is_main and not checkpoints.checkpoint_path("last").exists():
        checkpoints.init_callback(model)
        checkpoints.save("last")
    wall = time.perf_counter() - started
    if not dist.is_main:
        return dist.broadcast(None)  # rank 0's results, once it has evaluated
    trained = int(model.num_timesteps) - start_frames
    stopped = next((cb for cb in callbacks if isinstance(cb, WallClockLimit) and cb.stopped), None)
    training: dict[str, Any] = {
        "target_frames": total,
        "stopped_by_time_limit": stopped is not None,
        "frames_this_session": trained,
        "wall_seconds_this_session": round(wall, 1),
        "eval_seconds_this_session": round(checkpoints.eval_seconds, 1),
        "frames_per_second": round(trained / max(1e-9, wall - checkpoints.eval_seconds), 1) if trained else None,
        "best": checkpoints.best,
    }
    if (run.root / "eval_history.json").exists():  # a run shorter than train.eval_every has none
        training["eval_history"] = "eval_history.json"
    if settings.milestones:
        training["milestones"] = f"{MILESTONES}/"
    final = None
    if settings.final_eval:
        from agents.evaluation.evaluate import evaluate_policy

        final = evaluate_policy(model, cfg, cfg.eval.replace(videos=0), progress=bool(show))
        training["policy_evaluated"] = "last (the final policy)"
    results = write_run_results(
        run,
        cfg,
        "ppo",
        model.num_timesteps,
        final,
        model.policy.features_extractor.alphas(),
        alpha.trajectory,  # [frames, {name: α}] per rollout, earlier sessions included (TensorBoard: policy/alpha)
        training,
        device=str(model.device),
        world_size=dist.world_size if dist.enabled else None,  # frames and frames/s count every rank's
        alpha_probe=probe_after_training(model, cfg) if settings.final_eval and dist.is_main else None,
    )
    return dist.broadcast(results)
