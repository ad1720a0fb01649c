"""Every script in scripts/ (benchmarks and experiments included) starts and prints its help: a script that no
test imports otherwise still cannot break silently when the code it calls changes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from script_forks import ScriptRun, run_scripts

ROOT = Path(__file__).resolve().parent.parent
PRELOAD = ["torch", "stable_baselines3", "agents.run.cli", "agents.trainers.ppo", "agents.trainers.bc"]
NEEDS_HABITAT_LAB = {"habitat_lab_check.py"}  # runs in habitat-lab's own environment (docs/habitat.md)
SCRIPTS = sorted(
    p
    for p in [*ROOT.glob("scripts/*.py"), *ROOT.glob("scripts/experiments/*.py")]
    if not p.name.startswith("_") and p.name not in NEEDS_HABITAT_LAB
)


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess]:
    """Every script's ``--help``, 2 at a time, as forks of one process that imported torch and the toolkit once
    (tests/script_forks.py): a fresh interpreter per script spent most of its time importing torch."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    runs = [ScriptRun(str(p.relative_to(ROOT / "scripts").with_suffix("")), ["--help"], ROOT) for p in SCRIPTS]
    done = run_scripts(runs, PRELOAD, workers=2, env=env)
    return dict(zip((p.name for p in SCRIPTS), done, strict=True))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [p.name for p in SCRIPTS])
def test_script_prints_its_help(helps, name):
    done = helps[name]
    assert done.returncode == 0 and "usage" in done.stdout.lower(), (name, done.stderr[-1500:])


def test_bench_train_variant_names_compose_their_levers() -> None:
    """A PPO variant is any registered method (hyphenated ones included) with `-`-joined levers, each resolving to
    config overrides; tokens combine: `-bf16train-16envs` is bf16 training with 16 envs at the same frames per
    rollout. Unknown methods and levers are refused naming the part."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bench_train

    assert bench_train.split_variant("sb3") == ("sb3", [])
    assert bench_train.split_variant("side-only") == ("side-only", [])
    assert bench_train.split_variant("side-only-bf16train-16envs") == ("side-only", ["bf16train", "16envs"])
    assert bench_train.split_variant("sidetune-l2sp-unfused") == ("sidetune-l2sp", ["unfused"])
    assert bench_train.split_variant("sidetune-nchw") == ("sidetune", ["nchw"])
    for bad, part in (("sidetun", "no method"), ("sidetune-fast", "'fast'"), ("sidetune-xenvs", "'xenvs'")):
        with pytest.raises(ValueError, match=part):
            bench_train.split_variant(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="BC variants"):
        bench_train.bc_variant_argument("sidetune-16envs")
    assert bench_train.bc_variant_argument("side-only-bf16train") == "side-only-bf16train"
    for name in bench_train.DEFAULT_VARIANTS:
        bench_train.variant_overrides(name, [])
    assert bench_train.ppo_config("side-only", bench_train.variant_overrides("side-only-fp32", [])).policy.method == (
        "side-only"
    )
    cfg = bench_train.ppo_config("sidetune", bench_train.variant_overrides("sidetune-bf16train-16envs", []))
    preset = bench_train.ppo_config("sidetune", [])
    assert cfg.policy.train_precision == "bfloat16" and cfg.train.num_envs == 16
    assert cfg.train.num_envs * cfg.ppo.n_steps == preset.train.num_envs * preset.ppo.n_steps
    unfused = bench_train.ppo_config("sidetune", bench_train.variant_overrides("sidetune-unfused", [])).policy
    assert unfused.base_precision == "float32" and unfused.train_precision == "float32"
    unfolded = bench_train.ppo_config("sidetune", bench_train.variant_overrides("sidetune-unfolded", [])).policy
    assert unfolded.base_precision == "float32"
    assert bench_train.bc_variant_argument("sidetune-maxpool-floatinput") == "sidetune-maxpool-floatinput"


def test_bench_train_model_levers_swap_the_fast_paths_and_keep_the_outputs() -> None:
    """`-unfused` puts torch's max-pool in the map tower, scales float images in separate passes and runs the frozen
    base unfolded; loaded with the same weights, it gives the trainer's values (to fp32 rounding): the levers
    change speed only."""
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bench_train

    small = ["policy.base=random", "env.resolution=64", "train.num_envs=2", "ppo.n_steps=8", "ppo.batch_size=16"]
    small += ["policy.base_precision=float32", "policy.train_precision=float32"]  # both in fp32, so the two can agree
    fast, plain = (bench_train.build_variant(name, small).model for name in ("sidetune", "sidetune-unfused"))
    try:
        plain.policy.load_state_dict(fast.policy.state_dict())
        extractor = plain.policy.features_extractor
        assert extractor.raw_image_keys == () and fast.policy.features_extractor.raw_image_keys
        assert isinstance(extractor.rgb_scaler, bench_train.SeparatePassScaler)
        assert isinstance(extractor.towers["map"][0], torch.nn.MaxPool2d)
        assert isinstance(fast.policy.features_extractor.towers["map"][0], bench_train.MaxFilter3x3)
        base = extractor.encoder.base
        assert base.inference_module(torch.zeros(1)) is base.module  # BatchNorms kept, not folded
        space = fast.observation_space
        obs = {k: torch.as_tensor(np.stack([space[k].sample() for _ in range(4)])) for k in space.spaces}
        actions = torch.tensor([0, 1, 2, 1])
        fast.policy.set_training_mode(False)
        plain.policy.set_training_mode(False)
        with torch.no_grad():
            ours, theirs = (m.policy.evaluate_actions(obs, actions) for m in (fast, plain))
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    finally:
        fast.env.close()
        plain.env.close()


def test_bench_train_reports_without_the_sb3_baseline(capsys) -> None:
    """Benchmarking only the toolkit's variants (no `sb3`) prints their table with "n/a" for the ratio to SB3."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bench_train

    row = {"frames_per_s": 120.0, "update_gmac": 3.0, "update_gmac_per_s": 30.0, "trainable_params": 1e6}
    results = {
        "machine": {"cpu": "test CPU", "nproc": 2, "amx_bf16": False, "uptime": "load 1.0"},
        "load_end": "load 1.0",
        "matmul_gmac_per_s": {"float32": 60.0},
        "ppo": {"sidetune": {**row, "params": 2e6, "vs_sb3": None}, "_matmul_fp32_gmac_per_s_interleaved": 60.0},
    }
    bench_train.report(results)
    out = capsys.readouterr().out
    assert "| sidetune | 1.00 M / 2.00 M | 120.0 | n/a | 3.0 | 30.0 | 50% |" in out
    assert "side-tuning >= 1.5x SB3: n/a" in out
