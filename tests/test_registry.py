"""Methods and backends are registered specs: a toy method added in one place trains with BC and shows up in the
CLI's choices and the reports; a backend added in one place builds tasks and is a valid env.backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from agents.evaluation.eval_report import base_free
from agents.evaluation.experiment_report import build_report
from agents.run.cli import add_policy_flags, base_parser
from agents.run.config_loader import load_run_config
from agents.run.run_dir import RunDir
from agents.trainers.bc import train_bc
from agents.trainers.trajectories import generate_pool
from envs.backends import BackendSpec, backend_names, backend_spec, register_backend, unregister_backend
from envs.config import ConfigError, EnvConfig
from envs.factory import make_task, renders_offline
from policies.methods import (
    MethodEncoder,
    MethodSpec,
    PolicyConfig,
    build_encoder,
    method_names,
    register_method,
    unregister_method,
)

TOY = "toy-pool"


def build_toy(config: PolicyConfig, image_size: tuple[int, int]) -> MethodEncoder:
    """The toy method's build function: a 16x16 average pool and a 1x1 conv to the 8-channel contract."""
    return MethodEncoder(config.method, None, nn.Sequential(nn.AvgPool2d(16), nn.Conv2d(3, 8, 1)), None)


@pytest.fixture()
def toy_method():
    """The toy method, registered for one test (one entry plus its build function)."""
    spec = register_method(MethodSpec(TOY, base=None, side=True, description="pooled pixels", build=build_toy))
    yield spec
    unregister_method(TOY)


def test_a_registered_method_is_known_everywhere_methods_are_listed(toy_method):
    assert TOY in method_names() and not toy_method.merges and not toy_method.pretrained_base
    parser = base_parser("test")
    add_policy_flags(parser)
    assert parser.parse_args(["--method", TOY]).method == TOY  # the CLI's choices come from the table
    encoder = build_encoder(PolicyConfig(method=TOY), (32, 32))
    assert encoder(torch.zeros(2, 3, 32, 32)).shape == (2, 8, 2, 2) and not encoder.base_frozen
    assert base_free(TOY)  # no pretrained base: reports compare it with every target's base
    with pytest.raises(ValueError, match="already registered"):
        register_method(toy_method)


def test_an_unregistered_method_is_a_config_error():
    with pytest.raises(ValueError, match=rf"policy.method: '{TOY}' is unknown \(choose one of features, "):
        PolicyConfig(method=TOY)
    parser = base_parser("test")
    add_policy_flags(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--method", TOY])


def test_a_toy_method_trains_with_bc_for_an_epoch_and_is_reported(toy_method, tmp_path: Path):
    cfg = load_run_config(
        "bc.yaml",
        None,
        None,
        [
            "env.resolution=32",
            "policy.base=random",
            f"policy.method={TOY}",
            "bc.trajectories=4",
            f"bc.pool_dir={tmp_path / 'pool'}",
            "bc.generate_envs=4",
            "bc.epochs=1",
            "bc.val_fraction=0",
            "bc.feature_cache=false",
            "eval.episodes_per_building=1",
            f"run.runs_root={tmp_path / 'runs'}",
            "run.device=cpu",
        ],
    )
    generate_pool(cfg.env, tmp_path / "pool", 4, seed=0, shard_size=4, num_envs=4)
    run = RunDir.create(tmp_path / "runs", "toy", "toy-seed0")
    run.write_config(cfg)
    results = train_bc(cfg, run, progress=False)
    assert results.method == TOY and results.epochs == 1 and results.frames == results.training["train_frames"] > 0
    assert results.evaluation["episodes"] == 14 and results.alphas == {}  # no merge, no α
    report = build_report(tmp_path / "runs" / "toy", log=lambda _: None)["report"]
    assert report["groups"] == [f"bc {TOY} base=random data=4 traj"]
    assert f"bc {TOY} base=random" in (tmp_path / "runs" / "toy" / "report.md").read_text()


def test_a_registered_backend_builds_tasks_and_is_a_valid_env_backend():
    embedded = backend_spec("embedded")
    register_backend(BackendSpec(**{**embedded.__dict__, "name": "embedded-copy"}))  # one entry, the same functions
    try:
        assert "embedded-copy" in backend_names()
        config = EnvConfig(backend="embedded-copy", resolution=32, max_steps=20)
        assert renders_offline(config)
        task = make_task(config, 2, split="heldout", seed=0, per_building=1)
        assert len(task.episodes) == 14
        task.close()
        parser = base_parser("test")
        add_policy_flags(parser)
        assert parser.parse_args(["--backend", "embedded-copy"]).backend == "embedded-copy"
        with pytest.raises(ConfigError, match="env.split"):
            EnvConfig(backend="embedded-copy", split="val")  # the spec's fixed splits are checked
    finally:
        unregister_backend("embedded-copy")
    with pytest.raises(ConfigError, match="env.backend"):
        EnvConfig(backend="embedded-copy")
