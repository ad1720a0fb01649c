"""The paper-scale GPU settings run on the CPU: configs/ppo_gpu.yaml (Taskonomy ResNet-50 base at 256², 4 stacked
frames, the torch renderer with the frames kept as tensors) for one short rollout and one PPO update, and behaviour
cloning with the same policy and env settings for one batch, with the frames and envs cut down by overrides and
the torch renderer on the CPU (env.render_device=torch-cpu, the CUDA renderer's code). The base is the official
curvature encoder where torch's hub cache holds it, else an untrained one of the same architecture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from agents.run.cli import base_parser, resolve_config
from agents.trainers.bc import attach_cache, build_context, train_epoch, wants_cache
from agents.trainers.ppo import run_ppo
from policies.bases import official_weights

ROOT = Path(__file__).resolve().parent.parent
GPU_PRESET = ROOT / "configs" / "ppo_gpu.yaml"
ON_CPU = ["env.render_device=torch-cpu", "run.device=cpu"]


def base_on_disk() -> str:
    try:
        official_weights("curvature", download=False)
    except Exception:
        return "random"
    return "curvature"


def gpu_preset(tmp_path: Path, *overrides: str):
    args = ["--config", str(GPU_PRESET), f"run.runs_root={tmp_path / 'runs'}", f"policy.base={base_on_disk()}"]
    cfg = resolve_config(base_parser("test").parse_args([*args, *ON_CPU, *overrides]), "ppo.yaml")
    # what makes it the paper-scale preset stays as the file says
    assert (cfg.env.resolution, cfg.frame_stack, cfg.policy.base_arch, cfg.policy.side) == (256, 4, "taskonomy", "fcn5")
    return cfg


def gpu_settings() -> list[str]:
    """The GPU preset's env and policy settings and frame stack as key=value overrides (what BC shares with PPO;
    the episode range is set by the test)."""
    preset = yaml.safe_load(GPU_PRESET.read_text())
    pairs = [f"frame_stack={preset['frame_stack']}"]
    for section in ("env", "policy"):
        pairs += [f"{section}.{k}={v}" for k, v in preset[section].items() if not isinstance(v, dict)]
    return pairs


def test_ppo_gpu_preset_rolls_out_and_updates_once_on_the_cpu(tmp_path, capsys):
    cfg = gpu_preset(
        tmp_path,
        "train.num_envs=2",
        "ppo.n_steps=4",  # one rollout of 2 x 4 frames
        "ppo.batch_size=8",
        "ppo.n_epochs=1",  # one PPO update
        "ppo.total_frames=8",
        "train.eval_every=0",
        "train.eval_at_start=false",
        "train.final_eval=false",
        "train.checkpoint_every=0",
    )
    run, results = run_ppo(cfg, progress=False)
    assert "device-resident rollout: rgb stay on cpu" in capsys.readouterr().out  # the frames stayed tensors
    assert results.frames == 8 and results.training["frames_this_session"] == 8
    assert results.training["frames_per_second"] > 0
    saved = json.loads(run.results_path.read_text())
    assert saved["numerics"]["device"] == "cpu" and saved["numerics"]["tf32"] is False
    assert [frames for frames, _ in saved["alpha_trajectory"]] == [8]  # one update
    assert (run.checkpoints / "last.zip").is_file()


def test_bc_with_the_gpu_settings_trains_one_batch_on_the_cpu(tmp_path):
    pool = tmp_path / "pool"
    args = [
        *gpu_settings(),
        f"run.runs_root={tmp_path / 'runs'}",
        f"policy.base={base_on_disk()}",
        *ON_CPU,
        "env.episodes.max_geodesic=2.0",  # short expert trajectories: few frames for the feature cache
        "bc.trajectories=1",
        f"bc.pool_dir={pool}",
        "bc.generate_envs=1",
        "bc.batch_size=8",
        "bc.epochs=1",
    ]
    cfg = resolve_config(base_parser("test").parse_args(args), "bc.yaml")
    assert (cfg.env.resolution, cfg.frame_stack, cfg.policy.base_arch) == (256, 4, "taskonomy")
    ctx = build_context(cfg, progress=False)
    if wants_cache(ctx):  # sidetune: the frozen ResNet-50's features computed once per frame
        attach_cache(ctx, progress=False)
    side = {k: v.clone() for k, v in ctx.extractor.encoder.side.state_dict().items()}
    row = train_epoch(ctx, 0, progress=False, max_batches=1)
    assert math.isfinite(row["loss"])
    after = ctx.extractor.encoder.side.state_dict()
    assert any(not torch.equal(v, after[k]) for k, v in side.items())  # the side trained


@pytest.fixture(autouse=True)
def _passive_threads(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
