"""Method presets: the paper's special cases, freezing, gradient routing, config errors."""

import pytest
import torch
from torch import nn

import policies.methods as methods
from policies.base_compact import CompactEncoder
from policies.checkpoints import save_encoder_weights
from policies.methods import PolicyConfig, build_encoder

SIZE = (32, 32)


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    base = CompactEncoder()
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in base.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return str(save_encoder_weights(base, tmp_path_factory.mktemp("base") / "base.pth"))


def images(n=4, seed=0):
    return torch.rand(n, 3, *SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_alpha_one_is_exactly_features_and_alpha_zero_exactly_side(base_checkpoint):
    features = build_encoder(PolicyConfig(method="features", base=base_checkpoint), SIZE)
    x = images()
    for alpha in (1.0, 0.0):
        enc = build_encoder(PolicyConfig(base=base_checkpoint, alpha_init=alpha, alpha_learned=False), SIZE).train()
        expected = features(x) if alpha == 1.0 else enc.side(x)
        assert torch.equal(enc(x), expected)


def test_sidetune_gradients_reach_only_side_merge_and_alpha(base_checkpoint):
    enc = build_encoder(PolicyConfig(base=base_checkpoint, merge="alpha"), SIZE).train()
    enc(images()).pow(2).mean().backward()
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    with_grad = {n for n, p in enc.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert "merge.logit" in with_grad
    assert all(n.startswith(("side.", "merge.")) for n in trainable | with_grad)
    assert any(n.startswith("side.") for n in with_grad)


def test_frozen_base_stays_eval_and_bit_identical_after_an_optimizer_step(base_checkpoint):
    enc = build_encoder(PolicyConfig(base=base_checkpoint, merge="sum"), SIZE)
    before = {k: v.clone() for k, v in enc.base.state_dict().items()}
    enc.train()
    assert not enc.base.training and not any(m.training for m in enc.base.modules())
    assert enc.side.training
    optimizer = torch.optim.AdamW(enc.parameters(), lr=0.1, weight_decay=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        enc(images()).pow(2).mean().backward()
        optimizer.step()
    after = enc.base.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad for p in enc.base.parameters())


def test_finetune_trains_the_loaded_base_and_scratch_starts_random(base_checkpoint):
    loaded = torch.load(base_checkpoint, weights_only=True)["state_dict"]
    finetune = build_encoder(PolicyConfig(method="finetune", base=base_checkpoint), SIZE).train()
    assert torch.equal(finetune.base.compress1.weight, loaded["compress1.weight"])
    finetune(images()).sum().backward()
    assert finetune.base.compress1.weight.grad is not None and finetune.side is None
    scratch = build_encoder(PolicyConfig(method="scratch", base=base_checkpoint), SIZE)
    assert not torch.equal(scratch.base.compress1.weight, loaded["compress1.weight"])
    assert all(p.requires_grad for p in scratch.parameters())


def test_side_only_and_zero_side_start_as_expected(base_checkpoint):
    side_only = build_encoder(
        PolicyConfig(method="side-only", base=base_checkpoint, side="copy", side_init="copy"), SIZE
    )
    features = build_encoder(PolicyConfig(method="features", base=base_checkpoint, base_precision="float32"), SIZE)
    x = images()
    assert side_only.base is None  # the frozen fp32 base runs with its batch norms folded: equal to float rounding
    torch.testing.assert_close(side_only.eval()(x), features(x), rtol=1e-4, atol=1e-5)
    zero = build_encoder(
        PolicyConfig(base=base_checkpoint, side_init="zero", merge="sum", base_precision="float32"), SIZE
    )
    assert torch.equal(zero(x), features(x))


def test_side_whose_output_does_not_match_the_base_is_a_clear_error(base_checkpoint, monkeypatch):
    monkeypatch.setattr(methods, "build_side", lambda kind, arch: nn.Conv2d(3, 8, 3, stride=8, padding=1))
    with pytest.raises(ValueError, match=r"side network outputs \(8, 4, 4\) .* contract is \(8, 2, 2\)"):
        build_encoder(PolicyConfig(base=base_checkpoint), SIZE)


def test_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="policy.method: 'sidetuning' is unknown"):
        PolicyConfig(method="sidetuning")
    with pytest.raises(ValueError, match=r"policy.alpah: unknown key \(did you mean `alpha_k`\?"):
        PolicyConfig.from_dict({"alpah": 0.5})
    with pytest.raises(ValueError, match="method 'sidetune': image height: 100 is unsupported"):
        build_encoder(PolicyConfig(), (100, 100))
    # each field's rule holds when the config is built, whoever builds it (one α rule: policies.merge.alpha_rule)
    with pytest.raises(
        ValueError, match=r"^policy.alpha_init: a learned α is sigmoid\(logit\) and cannot start at exactly 1.0"
    ):
        PolicyConfig(alpha_init=1.0)
    assert PolicyConfig(alpha_init=1.0, alpha_learned=False).alpha_init == 1.0
    with pytest.raises(ValueError, match="policy.head_kernel: 0 is out of range"):
        PolicyConfig(head_kernel=0)
