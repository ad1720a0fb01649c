"""PPO trainer: real short runs (tiny settings) for the run folder, frozen base, resume, init-from and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import TINY_PPO
from torch import nn

import agents.trainers.ppo_callbacks as ppo_callbacks
from agents.run.cli import base_parser, open_run, resolve_config
from agents.run.config_loader import ConfigFileError
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import CheckpointError, build_model, load_model
from agents.run.run_dir import RunDir
from agents.trainers.ppo import run_ppo
from policies.base_compact import CompactEncoder
from policies.checkpoints import read_state_dict, save_encoder_weights
from policies.freeze import unwrap
from policies.precision import resolve_train_precision

ROOT = Path(__file__).resolve().parent.parent
TINY = [*TINY_PPO, "train.progress_bar=false", "eval.num_envs=14"]


def tiny_config(tmp_path: Path, *overrides: str):
    """The CPU preset shrunk to seconds: 32 px, 2 envs, 16-step rollouts, 20-step episodes."""
    args = base_parser("test").parse_args([f"run.runs_root={tmp_path / 'runs'}", *TINY, *overrides])
    return resolve_config(args, "ppo.yaml")


@pytest.fixture(scope="module")
def base_file(tmp_path_factory) -> str:
    """A compact base checkpoint with non-trivial BatchNorm statistics (so eval mode matters)."""
    torch.manual_seed(1)
    base = CompactEncoder()
    with torch.no_grad():
        for m in base.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return str(save_encoder_weights(base, tmp_path_factory.mktemp("base") / "base.pth"))


def folder_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove nothing was written)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_short_run_keeps_frozen_base_bit_identical_and_fills_the_run_folder(tmp_path, base_file):
    cfg = tiny_config(
        tmp_path,
        f"policy.base={base_file}",
        "ppo.total_frames=96",
        "train.eval_every=64",
        "train.eval_episodes_per_building=1",
        "train.final_eval=true",
        "eval.episodes_per_building=1",
    )
    run, results = run_ppo(cfg, announce=False)
    model = load_model(run.checkpoints / "last.zip", device="cpu")
    encoder = model.policy.features_extractor.encoder
    after = unwrap(encoder.base).state_dict()
    before = read_state_dict(base_file)
    assert set(after) == set(before)
    for key, value in before.items():  # weights and BatchNorm buffers, bit for bit
        assert torch.equal(after[key], value), key
    assert model.num_timesteps == 96 == results.frames
    initial = build_model(cfg, make_vec_env(cfg, 2, "train", 0), device="cpu")  # same seed: the run's initial weights
    start_side = initial.policy.features_extractor.encoder.side.state_dict()
    assert any(not torch.equal(v, start_side[k]) for k, v in encoder.side.state_dict().items())  # the side did train
    history = json.loads((run.root / "eval_history.json").read_text())
    assert [row["frames"] for row in history] == [0, 64, 96]
    assert all({"frames", "success", "spl", "reward"} <= set(row) for row in history)
    for row in history:  # every evaluation keeps its 14 episodes (the curves' seeds-then-episodes intervals)
        assert [set(ep) for ep in row["per_episode"]] == [{"episode_id", "success", "spl", "reward"}] * 14
        assert np.mean([ep["success"] for ep in row["per_episode"]]) == pytest.approx(row["success"])
    saved = json.loads(run.results_path.read_text())
    assert saved["schema_version"] == 2 and saved["kind"] == "ppo" and saved["frames"] == 96
    assert saved["training"]["eval_history"] == "eval_history.json"  # the periodic evaluations above
    numerics = saved["numerics"]  # what the run's precisions resolved to on this machine, as the policy ran them
    assert numerics["device"] == "cpu" and numerics["base_dtype"] == str(encoder.base.dtype_for(model.device))[6:]
    assert numerics["train_precision"] == resolve_train_precision(cfg.policy.train_precision, "cpu")
    assert saved["evaluation"]["episodes"] == 14 and 0.0 <= saved["evaluation"]["success"]["mean"] <= 1.0
    assert "alpha" in saved["alphas"] and list(run.tensorboard.glob("events.out.tfevents.*"))
    trajectory = saved["alpha_trajectory"]  # α per rollout (2 envs x 16 steps), in frames as the α schedules
    assert [frames for frames, _ in trajectory] == [32, 64, 96] and trajectory[0][1]["alpha"] == pytest.approx(0.5)
    steps = _tensorboard_steps(run.tensorboard)
    for tag in ("eval/success", "eval/spl", "time/frames_per_second", "policy/alpha", "train/loss"):
        assert tag in steps, (tag, sorted(steps))
    assert steps["eval/success"] == [0, 64, 96]  # each evaluation at the frames it evaluated
    for tag in ("train/loss", "time/frames_per_second"):  # one point per update, never twice at one step
        assert len(steps[tag]) == len(set(steps[tag])), (tag, steps[tag])


def test_a_run_shorter_than_eval_every_evaluates_neither_at_its_start_nor_at_its_end(tmp_path):
    """train.eval_at_start is the curve's 0-frame point: a run that never reaches train.eval_every has no curve,
    so it runs no periodic evaluation at all (a 256-frame Habitat run spent 176 s on one at its start)."""
    cfg = tiny_config(
        tmp_path,
        "policy.base=random",
        "ppo.total_frames=32",
        "train.eval_every=64",
        "train.eval_at_start=true",
        "train.eval_episodes_per_building=1",
    )
    run, results = run_ppo(cfg, announce=False)
    assert results.frames == 32 and results.training["eval_seconds_this_session"] == 0
    assert not (run.root / "eval_history.json").exists()
    assert "eval_history" not in json.loads((run.root / "results.json").read_text())["training"]  # names no file


def _tensorboard_steps(folder: Path) -> dict[str, list[int]]:
    """The logged steps of every scalar tag of the run's TensorBoard files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [event.step for event in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def train_until_killed(cfg, tmp_path: Path, monkeypatch, frames: int) -> Path:
    """Train ``cfg`` until the process "dies" (KeyboardInterrupt) at the first step past ``frames``; its run folder."""
    original = ppo_callbacks.EpisodeStatsCallback._on_step

    def killed(self):
        if self.num_timesteps >= frames:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(ppo_callbacks.EpisodeStatsCallback, "_on_step", killed)
    with pytest.raises(KeyboardInterrupt):
        run_ppo(cfg, announce=False)
    monkeypatch.setattr(ppo_callbacks.EpisodeStatsCallback, "_on_step", original)
    return next((tmp_path / "runs" / "ppo").iterdir())


def test_interrupted_run_resumes_frames_and_optimizer_state(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, "policy.base=random", "ppo.total_frames=128")

    run_root = train_until_killed(cfg, tmp_path, monkeypatch, 80)  # mid-rollout, after the 64-frame checkpoint
    checkpoint = load_model(run_root / "checkpoints" / "last.zip", device="cpu")
    assert checkpoint.num_timesteps == 64  # at most one checkpoint interval (32 frames) + one rollout lost
    steps_before = max(int(s["step"]) for s in checkpoint.policy.optimizer.state_dict()["state"].values())
    assert steps_before == 4  # 2 updates x (32 frames / batch 16) x 1 epoch

    run, results = run_ppo(
        tiny_config(tmp_path, "policy.base=random", "ppo.total_frames=128"), resume=str(run_root), announce=False
    )
    assert run.root == run_root and results.frames == 128 and results.training["frames_this_session"] == 64
    resumed = load_model(run_root / "checkpoints" / "last.zip", device="cpu")
    steps_after = max(int(s["step"]) for s in resumed.policy.optimizer.state_dict()["state"].values())
    assert resumed.num_timesteps == 128 and steps_after == steps_before + 4  # Adam continued, not restarted
    # α's trajectory (sidetune, the preset) covers both sessions: the rollouts up to the checkpoint, then the
    # resumed ones
    assert [frames for frames, _ in results.alpha_trajectory] == [32, 64, 96, 128]


def test_milestones_keep_and_fully_evaluate_the_policy_at_their_frames(tmp_path, monkeypatch):
    from agents.evaluation.evaluate import evaluate_policy

    overrides = (
        "policy.base=random",
        "ppo.total_frames=128",
        "train.milestones=[40,128]",
        "eval.episodes_per_building=1",
    )
    cfg = tiny_config(tmp_path, *overrides)
    run_root = train_until_killed(cfg, tmp_path, monkeypatch, 80)  # after the 40-frame milestone (at 64 frames)
    first = json.loads((run_root / "milestones" / "frames-40.json").read_text())
    run, results = run_ppo(tiny_config(tmp_path, *overrides), resume=str(run_root), announce=False)
    # one evaluation, kept across the resume (not taken again); the 128-frame milestone is the run's end, which the
    # final evaluation covers
    assert sorted(p.name for p in (run.root / "milestones").iterdir()) == ["frames-40.json"]
    saved = json.loads((run.root / "milestones" / "frames-40.json").read_text())
    assert saved == first and (saved["milestone"], saved["frames"], saved["episodes"]) == (40, 64, 14)
    assert results.training["milestones"] == "milestones/" and results.frames == 128
    kept = load_model(run.root / "checkpoints" / "frames-40.zip", device="cpu")
    assert kept.num_timesteps == 64
    again = evaluate_policy(kept, cfg, cfg.eval.replace(videos=0), progress=False)  # the kept policy is the one scored
    assert [ep["success"] for ep in again["per_episode"]] == [ep["success"] for ep in saved["per_episode"]]
    assert [ep["reward"] for ep in again["per_episode"]] == pytest.approx([ep["reward"] for ep in saved["per_episode"]])


def test_wall_clock_limit_stops_after_an_update_with_a_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "policy.base=random", "ppo.total_frames=100000", "train.max_minutes=0.0001")
    run, results = run_ppo(cfg, announce=False)
    assert results.training["stopped_by_time_limit"] and results.training["target_frames"] == 100000
    assert results.frames % 32 == 2  # stopped on the first step of a rollout (2 envs), right after an update
    assert load_model(run.checkpoints / "last.zip", device="cpu").num_timesteps == results.frames


def test_init_from_copies_another_runs_policy_and_checks_it(tmp_path):
    first, _ = run_ppo(tiny_config(tmp_path, "policy.base=random", "ppo.total_frames=32", "run.name=a"), announce=False)
    second, _ = run_ppo(
        tiny_config(
            tmp_path,
            "policy.base=random",
            "ppo.total_frames=0",
            "run.name=b",
            "run.seed=5",
            f"train.init_from={first.root}",
        ),
        announce=False,
    )
    a = load_model(first.checkpoints / "last.zip", device="cpu").policy.state_dict()
    b = load_model(second.checkpoints / "last.zip", device="cpu").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    runs_before = sorted(p.name for p in (tmp_path / "runs" / "ppo").iterdir())
    with pytest.raises(CheckpointError, match="policy.head_channels"):
        run_ppo(
            tiny_config(tmp_path, "policy.base=random", "policy.head_channels=8", f"train.init_from={first.root}"),
            announce=False,
        )
    with pytest.raises(CheckpointError, match="action_space"):
        run_ppo(
            tiny_config(tmp_path, "policy.base=random", "env.auto_stop=false", f"train.init_from={first.root}"),
            announce=False,
        )
    assert sorted(p.name for p in (tmp_path / "runs" / "ppo").iterdir()) == runs_before  # no folder for failed runs


@pytest.mark.parametrize(
    "override, error, match",
    [
        ("policy.method=sidetuned", ValueError, "policy.method: 'sidetuned' is unknown"),
        ("env.backend=mujoco", ValueError, "env.backend"),
        ("policy.base=no_such_base", ValueError, "policy.base: 'no_such_base' is neither a shipped base"),
        ("env.resolution=40", ValueError, "16"),
        ("ppo.batch_size=64", ValueError, "rollout"),
        ("train.eval_episodes_per_building=0", ValueError, "episodes_per_building"),
    ],
)
def test_bad_input_fails_before_a_run_folder_exists(tmp_path, override, error, match):
    with pytest.raises(error, match=match):
        run_ppo(tiny_config(tmp_path, "policy.base=random", override), announce=False)
    assert not (tmp_path / "runs").exists()


def test_base_of_another_architecture_is_refused(tmp_path, base_file):
    with pytest.raises(ValueError, match="does not fit"):
        run_ppo(tiny_config(tmp_path, f"policy.base={base_file}", "policy.base_arch=taskonomy"), announce=False)
    assert not (tmp_path / "runs").exists()


def test_resume_with_another_config_touches_nothing_and_without_a_checkpoint_starts_over(tmp_path):
    cfg = tiny_config(tmp_path, "policy.base=random", "run.name=x", "ppo.total_frames=32")
    run, _, _ = open_run(cfg, None)  # a run folder whose training never wrote a checkpoint (e.g. a full disk)
    before = folder_snapshot(run.root)
    with pytest.raises(ConfigFileError, match="ppo.n_steps"):
        run_ppo(tiny_config(tmp_path, "policy.base=random", "ppo.n_steps=32"), resume=str(run.root), announce=False)
    with pytest.raises(FileNotFoundError):
        run_ppo(cfg, resume=str(tmp_path / "nowhere"), announce=False)
    assert folder_snapshot(run.root) == before and RunDir.open(run.root).read_config().ppo.n_steps == 16
    _, results = run_ppo(cfg, resume=str(run.root), announce=False)  # trains from frame 0 in its own folder
    assert results.frames == 32 and (run.checkpoints / "last.zip").is_file()


def test_cli_prints_clear_errors_and_the_resolved_config(tmp_path):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    script = [sys.executable, str(ROOT / "scripts" / "train_ppo.py")]
    bad = subprocess.run(
        [*script, "--base", "nonsense", f"run.runs_root={tmp_path}"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "nonsense" in bad.stderr
    assert not any(tmp_path.iterdir())
    shown = subprocess.run(
        [*script, "--base", "random", "--method", "features", "--num-envs", "3", "--frames", "999", "--print-config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert shown.returncode == 0, shown.stderr
    for line in ("method: features", "base: random", "num_envs: 3", "total_frames: 999", "auto_stop: true"):
        assert line in shown.stdout


def test_progress_bar_rate_skips_evaluation_time_and_labels_training_success():
    """The bar's clock leaves out evaluation seconds; success/SPL wait for enough finished training episodes."""
    from types import SimpleNamespace

    from agents.trainers.ppo_callbacks import EpisodeStatsCallback, ProgressCallback

    evaluated = [0.0]
    stats = EpisodeStatsCallback()
    bar = ProgressCallback(1000, stats, excluded_seconds=lambda: evaluated[0], min_episodes=3)
    bar.model = SimpleNamespace(num_timesteps=0)
    bar._on_training_start()
    start = bar.bar.start_t
    evaluated[0] = 45.0  # a 45 s start evaluation before the first frames
    bar.model.num_timesteps = 8
    bar._on_step()
    assert bar.bar.start_t == pytest.approx(start + 45.0)
    assert bar.postfix() == {"train_episodes": "0"}
    for success in (1.0, 1.0, 0.0):
        stats.episodes += 1
        stats.recent["success"].append(success)
        stats.recent["spl"].append(success / 2)
    assert bar.postfix() == {"train_episodes": "3", "train_success": "0.67", "train_spl": "0.33"}
    bar._on_training_end()
