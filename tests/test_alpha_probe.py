"""The α probe (agents/evaluation/alpha_probe.py): held-out action loss of a side-tuned policy with α forced."""

from __future__ import annotations

import math

import pytest
import torch

from agents.evaluation.alpha_probe import alpha_merge, forced_alpha, heldout_action_loss
from agents.run.config_loader import load_run_config
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import build_model


def _model(tmp_path, method: str = "sidetune"):
    cfg = load_run_config(
        "bc.yaml",
        None,
        None,
        [
            "env.resolution=32",
            "env.max_steps=25",
            "env.num_heldout_buildings=2",
            "policy.base=random",
            f"policy.method={method}",
            "policy.side_init=xavier",
            f"run.runs_root={tmp_path}",
            "run.device=cpu",
            "eval.num_envs=4",
        ],
    )
    venv = make_vec_env(cfg, 1, cfg.env.split, 0)
    model = build_model(cfg, venv, device="cpu")
    venv.close()
    return cfg, model


def test_forcing_alpha_picks_the_base_or_the_side_and_is_undone(tmp_path):
    cfg, model = _model(tmp_path)
    merge = alpha_merge(model)
    learned = merge.alphas()["alpha"]
    with torch.no_grad():  # SB3's action head starts near-uniform (gain 0.01): make the features matter
        model.policy.action_net.weight.mul_(300.0)
    first = heldout_action_loss(model, cfg, episodes_per_building=1)
    assert first["frames"] > 0 and first["episodes"] == 2
    assert set(first["loss"]) == {"0.0", "0.5", "1.0"}
    assert all(math.isfinite(v) and v > 0 for v in first["loss"].values())
    assert merge.alphas()["alpha"] == pytest.approx(learned)  # the learned α is back
    with torch.no_grad():  # a different side changes the side-only loss but not the base-only one
        for p in model.policy.features_extractor.encoder.side.parameters():
            p.mul_(3.0)
    second = heldout_action_loss(model, cfg, episodes_per_building=1)
    assert second["frames"] == first["frames"]  # the expert drives: the same frames
    assert second["loss"]["1.0"] == pytest.approx(first["loss"]["1.0"], rel=1e-5)
    assert second["loss"]["0.0"] != pytest.approx(first["loss"]["0.0"], rel=1e-3)


def test_forced_alpha_restores_the_method(tmp_path):
    _, model = _model(tmp_path)
    merge = alpha_merge(model)
    with forced_alpha(merge, 1.0):
        assert float(merge.alpha()) == 1.0
    assert 0.0 < float(merge.alpha().detach()) < 1.0


def test_a_method_without_alpha_is_refused(tmp_path):
    cfg, model = _model(tmp_path, "features")
    assert alpha_merge(model) is None
    with pytest.raises(ValueError, match="needs a policy whose merge has an α"):
        heldout_action_loss(model, cfg, episodes_per_building=1)
