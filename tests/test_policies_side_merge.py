"""Side networks, initialisations, merge operators, α and its curricula, distillation."""

import pytest
import torch

from policies.base_compact import CompactEncoder
from policies.checkpoints import CheckpointMismatchError, save_encoder_weights
from policies.curriculum import HyperbolicAlpha, StageAlpha, make_schedule
from policies.distill import distill_side
from policies.merge import MERGES, AlphaBlend, alpha_rule, build_merge
from policies.side import FCN5, build_side, initialise_side


def test_fcn5_size_and_contract():
    side = FCN5().eval()
    assert 0.85e6 < sum(p.numel() for p in side.parameters()) < 0.95e6
    with torch.no_grad():
        for size in (128, 256):
            assert side(torch.zeros(1, 3, size, size)).shape == (1, 8, size // 16, size // 16)


def test_zero_init_side_outputs_zero_yet_learns():
    side = initialise_side(FCN5(), "zero")
    x = torch.randn(2, 3, 64, 64)
    out = side(x)
    assert torch.equal(out, torch.zeros_like(out))
    (out * torch.randn_like(out)).sum().backward()
    assert side.gain.grad is not None and side.gain.grad.abs().sum() > 0


def test_copy_init_reproduces_the_base_and_rejects_other_architectures():
    torch.manual_seed(0)
    base = CompactEncoder().eval()
    side = initialise_side(build_side("copy", "compact"), "copy", base).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(side(x), base(x))
    assert side.layer1[0][0].weight.data_ptr() != base.layer1[0][0].weight.data_ptr()  # a copy, not shared
    with pytest.raises(CheckpointMismatchError, match="cannot initialise side FCN5 by copying"):
        initialise_side(FCN5(), "copy", base)


def test_xavier_init_and_unknown_init():
    side = initialise_side(FCN5(), "xavier")
    fan_in, fan_out = 3 * 8 * 8, 64 * 8 * 8  # first conv: 3->64, 8x8 kernel
    bound = (6 / (fan_in + fan_out)) ** 0.5
    weight = side.conv1[0].weight
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    # PolicyConfig rejects an unknown policy.side_init first; below it the table names what is registered
    with pytest.raises(KeyError, match="side initialisation 'orthogonal' is not registered"):
        initialise_side(FCN5(), "orthogonal")
    with pytest.raises(ValueError, match="side_init='auto' is resolved by policies.methods.build_encoder"):
        initialise_side(FCN5(), "auto")
    with pytest.raises(ValueError, match="side_init='distill' needs side_weights"):
        initialise_side(FCN5(), "distill")


ZERO_INIT_ON_SIDE = ("film", "mlp")  # start as R = B: the side path's last weights are zero, so is its gradient


@pytest.mark.parametrize("name", sorted(MERGES))
def test_every_merge_keeps_the_shape_and_passes_gradients(name):
    torch.manual_seed(0)
    merge = build_merge(name)
    base, side = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4, requires_grad=True)
    target = torch.randn(2, 8, 4, 4)

    def side_gradient() -> torch.Tensor:
        side.grad = None
        merge.zero_grad()
        out = merge(base, side)
        assert out.shape == base.shape
        ((out - target) ** 2).mean().backward()
        return side.grad.abs().sum()

    first = side_gradient()
    if name in ZERO_INIT_ON_SIDE:
        assert first == 0  # exactly zero at the first step (hence the optimizer step below)
    else:
        assert first > 0
    params = [p for p in merge.parameters() if p.requires_grad]
    if params:
        torch.optim.SGD(params, lr=0.1).step()  # the merge's own gradients are non-zero: one step opens the side path
    assert side_gradient() > 0


@pytest.mark.parametrize("name", ["film", "mlp"])
def test_film_and_mlp_adapter_start_as_the_base(name):
    base, side = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    assert torch.equal(build_merge(name)(base, side), base)


def test_learned_alpha_is_sigmoid_bounded_and_readable():
    merge = AlphaBlend(alpha_init=0.3)
    assert merge.alphas()["alpha"] == pytest.approx(0.3)
    with torch.no_grad():
        merge.logit.fill_(50.0)
    assert 0.0 <= merge.alphas()["alpha"] <= 1.0
    # the one α rule: PolicyConfig raises it at the door, AlphaBlend (below the door) asserts it
    assert "cannot start at exactly 1.0" in str(alpha_rule(1.0, learned=True, scheduled=False))
    assert alpha_rule(1.0, learned=False, scheduled=False) is None and alpha_rule(0.3, True, False) is None
    with pytest.raises(AssertionError, match="cannot start at exactly 1"):
        AlphaBlend(alpha_init=1.0, learned=True)


def test_alpha_blend_algebra():
    base, side = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    assert torch.equal(AlphaBlend(1.0, learned=False)(base, side), base)
    assert torch.equal(AlphaBlend(0.0, learned=False)(base, side), side)
    torch.testing.assert_close(AlphaBlend(0.25, learned=False)(base, side), 0.25 * base + 0.75 * side)


def test_curricula():
    stage = AlphaBlend(learned=False, schedule=make_schedule("stage", switch_step=100))
    assert stage.alphas()["alpha"] == 1.0
    stage.set_step(100)
    assert stage.alphas()["alpha"] == 0.0
    hyper = HyperbolicAlpha(k=1000)
    assert (hyper(0), hyper(1000), hyper(4000)) == (1.0, 1.0, 0.25)
    assert StageAlpha(10)(9) == 1.0
    with pytest.raises(AssertionError, match="policy.alpha_k: None is not > 0"):
        make_schedule("hyperbolic")


def test_distillation_brings_the_side_towards_the_base(tmp_path):
    torch.manual_seed(0)
    base = CompactEncoder().eval()
    side = initialise_side(FCN5(), "xavier")
    images = torch.rand(16, 3, 32, 32) * 2 - 1
    history = distill_side(side, base, images, steps=40, batch_size=8, lr=3e-3)
    assert sum(history[-5:]) / 5 < 0.8 * sum(history[:5]) / 5
    path = save_encoder_weights(side, tmp_path / "side.pth")
    loaded = initialise_side(FCN5(), "distill", weights=path)
    assert torch.equal(loaded.conv3[0].weight, side.conv3[0].weight)
