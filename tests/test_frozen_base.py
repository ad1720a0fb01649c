"""The frozen base's inference copy: batch norms folded (float rounding only), bf16 within a bound, rebuilt on
new weights, and the state dict untouched."""

import numpy as np
import pytest
import torch
from torch import nn

from envs.config import EnvConfig
from envs.factory import make_sb3_vec_env
from policies.base_compact import CompactEncoder
from policies.base_taskonomy import TaskonomyEncoder
from policies.bases import load_base
from policies.contract import uint8_to_unit_range
from policies.freeze import Frozen, fold_batch_norms, resolve_precision

# bf16 bound on the shipped bases' features (GroupNorm-normalised, std 1): measured 0.028-0.030 max, 0.003-0.004 mean
BF16_MAX_ABS, BF16_MEAN_ABS = 0.1, 0.01
# the side-tuning policy's action log-probs, bf16 base vs fp32 base: measured 1.7e-5 at initialisation (SB3's
# action head starts near zero; a trained head scales the feature difference up, which the learning check covers)
LOG_PROB_MAX_ABS = 1e-3


def trained_looking(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random conv weights and batch-norm statistics/affines far from (0, 1), so folding is really exercised."""
    torch.manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.running_mean.uniform_(-0.5, 0.5)
            layer.running_var.uniform_(0.5, 2.0)
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.uniform_(-0.2, 0.2)
    return module.eval()


def frames(n: int = 4, size: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("arch", [CompactEncoder, TaskonomyEncoder])
def test_folded_batch_norms_agree_with_the_base_to_float_rounding(arch):
    torch.manual_seed(0)  # the conv weights too: they came from whatever the tests before this one drew
    base = trained_looking(arch())
    folded = fold_batch_norms(base)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in base.modules())  # the original is untouched
    x = frames()
    with torch.no_grad():
        reference = base(x)
        # fp32 rounding over ResNet-50's 53 layers: up to 1.4e-4 on outputs of magnitude 3 (6 seeds, 2026-12-02),
        # so the bound scales with the output; a fold that drops a shift or a scale is off by O(0.1-1)
        torch.testing.assert_close(folded(x), reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))


@pytest.mark.parametrize("task", ["curvature", "denoising"])
def test_bf16_base_features_stay_within_the_tested_bound(task):
    """The shipped bases on rendered training frames: bf16 features (about unit scale) within the bound of fp32."""
    venv = make_sb3_vec_env(EnvConfig(resolution=128), 8, seed=0)
    obs = venv.reset()
    for step in range(4):
        obs, *_ = venv.step(np.full(8, 1 + step % 3))
    venv.close()
    x = uint8_to_unit_range(obs["rgb"])
    base = load_base(task, "compact", resolution=128).eval()
    with torch.no_grad():
        reference = base(x)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = Frozen(base, precision="bfloat16")(x.contiguous(memory_format=layout))
        assert got.dtype == torch.float32 and got.shape == reference.shape
        diff = (got - reference).abs()
        assert 0 < diff.max() < BF16_MAX_ABS and diff.mean() < BF16_MEAN_ABS, (float(diff.max()), float(diff.mean()))


def test_inference_copy_follows_new_weights_and_leaves_the_state_dict_alone():
    frozen = Frozen(trained_looking(CompactEncoder(), seed=0))
    keys = set(frozen.state_dict())
    x = frames()
    first = frozen(x)
    other = trained_looking(CompactEncoder(), seed=1)
    frozen.module.load_state_dict(other.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(frozen(x), other(x), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(frozen(x), first)
    assert set(frozen.state_dict()) == keys and all(k.startswith("module.") for k in keys)
    assert not frozen.training and all(not p.requires_grad for p in frozen.parameters())


def test_auto_precision_is_bf16_only_where_it_is_fast(monkeypatch):
    from policies import freeze

    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ())
    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    assert resolve_precision("auto", torch.device("cpu")) == torch.bfloat16
    assert resolve_precision("float32", torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="base precision 'half' is unknown"):
        Frozen(nn.Identity(), precision="half")


def test_auto_train_precision_autocasts_only_where_bf16_is_native(monkeypatch):
    """policy.train_precision=auto (the preset default): bf16 autocast on CPUs with native bf16, fp32 elsewhere,
    where emulated bf16 would be several times slower."""
    from policies import freeze
    from policies.precision import resolve_train_precision, training_autocast

    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ())
    assert resolve_train_precision("auto", "cpu") == "float32"
    with training_autocast("auto", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ("amx_bf16",))
    assert resolve_train_precision("auto", "cpu") == "bfloat16"
    with training_autocast("auto", "cpu"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert resolve_train_precision("float32", "cpu") == "float32"
    with pytest.raises(ValueError, match="train precision 'half' is unknown"):
        resolve_train_precision("half", "cpu")


def test_forcing_bf16_where_it_is_emulated_warns_in_one_line(monkeypatch, capsys):
    """bf16 on a CPU without avx512_bf16/amx_bf16 is emulated (a side-tuning update ran 7x slower than fp32 on an
    AVX2 EPYC): a run that forces it says so at its start; 'auto' and float32 stay silent."""
    from policies import freeze
    from policies.methods import PolicyConfig
    from policies.precision import emulated_bf16_warning, warn_emulated_bf16

    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ())
    assert emulated_bf16_warning("auto", "auto", "cpu") is None
    assert emulated_bf16_warning("float32", "float32", "cpu") is None
    line = emulated_bf16_warning("auto", "bfloat16", "cpu")
    assert "policy.train_precision=bfloat16" in line and "base_precision" not in line and "auto or float32" in line
    warn_emulated_bf16(PolicyConfig(base_precision="bfloat16", train_precision="bfloat16"), "cpu")
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and "policy.base_precision=bfloat16 and policy.train_precision=bfloat16" in printed
    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    assert emulated_bf16_warning("bfloat16", "bfloat16", "cpu") is None


def test_bf16_base_moves_the_side_tuning_policy_log_probs_within_bound():
    """The CPU preset's sidetune(curvature) policy, same weights, float32 vs bfloat16 base, on rendered frames."""
    from agents.run.cli import base_parser, resolve_config
    from agents.run.env_builder import make_vec_env
    from agents.run.model_builder import build_model

    models = []
    for precision in ("float32", "bfloat16"):
        overrides = [f"policy.base_precision={precision}", "policy.train_precision=float32", "run.device=cpu"]
        args = base_parser("t").parse_args(overrides)  # an fp32 update: only the base's precision differs
        cfg = resolve_config(args, "ppo.yaml")
        venv = make_vec_env(cfg, 8, "train", 0)
        models.append(build_model(cfg, venv, device="cpu"))
    fp32, bf16 = models
    bf16.policy.load_state_dict(fp32.policy.state_dict())
    obs = fp32.env.reset()
    for step in range(3):
        obs, *_ = fp32.env.step(np.full(8, step % 3))
    tensors, _ = fp32.policy.obs_to_tensor(obs)
    actions = torch.arange(8) % 3
    with torch.no_grad():
        _, reference, _ = fp32.policy.evaluate_actions(tensors, actions)
        _, got, _ = bf16.policy.evaluate_actions(tensors, actions)
    assert 0 < (got - reference).abs().max() < LOG_PROB_MAX_ABS, float((got - reference).abs().max())
    for model in models:
        model.env.close()
