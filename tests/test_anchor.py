"""L2-SP anchoring (policies/anchor.py): the gradient gains λ·(θ − θ₀), θ₀ survives a save and load."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from policies.anchor import L2SPAnchor


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def _grads(module: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    module.zero_grad()
    module(x).pow(2).sum().backward()
    return [p.grad.clone() for p in module.parameters()]


def test_gradient_is_the_data_gradient_plus_the_pull_toward_the_start():
    x = torch.randn(5, 4)
    plain, anchored = _net(), L2SPAnchor(_net(), strength=0.3)
    start = [p.detach().clone() for p in anchored.module.parameters()]
    with torch.no_grad():  # move both networks away from the start in the same way
        for p, q in zip(plain.parameters(), anchored.module.parameters(), strict=True):
            p.add_(0.1)
            q.add_(0.1)
    for g_plain, g_anchored, p, p0 in zip(
        _grads(plain, x), _grads(anchored, x), anchored.module.parameters(), start, strict=True
    ):
        torch.testing.assert_close(g_anchored, g_plain + 0.3 * (p.detach() - p0))
    expected_penalty = (
        0.5
        * 0.3
        * sum(float(((p.detach() - p0) ** 2).sum()) for p, p0 in zip(anchored.module.parameters(), start, strict=True))
    )
    assert float(anchored.penalty()) == pytest.approx(expected_penalty)
    assert anchored.relative_drift() > 0


def test_at_the_start_and_with_strength_zero_the_gradient_is_unchanged():
    x = torch.randn(5, 4)
    for g_plain, g_anchored in zip(_grads(_net(), x), _grads(L2SPAnchor(_net(), 0.5), x), strict=True):
        torch.testing.assert_close(g_anchored, g_plain)
    free = L2SPAnchor(_net(), 0.0)
    with torch.no_grad():
        for p in free.module.parameters():
            p.add_(1.0)
    plain = _net()
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(1.0)
    for g_plain, g_free in zip(_grads(plain, x), _grads(free, x), strict=True):
        torch.testing.assert_close(g_free, g_plain)


def test_the_start_is_saved_and_restored_with_the_weights():
    anchored = L2SPAnchor(_net(), 1.0)
    with torch.no_grad():
        for p in anchored.module.parameters():
            p.mul_(2.0)
    state = copy.deepcopy(anchored.state_dict())
    fresh = L2SPAnchor(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), 1.0)
    fresh.load_state_dict(state)
    assert fresh.relative_drift() == pytest.approx(anchored.relative_drift())
    x = torch.randn(5, 4)
    for g_a, g_b in zip(_grads(anchored, x), _grads(fresh, x), strict=True):
        torch.testing.assert_close(g_a, g_b)


def test_negative_strength_is_refused():
    with pytest.raises(ValueError, match=">= 0"):
        L2SPAnchor(_net(), -1.0)


def test_a_deep_copy_pulls_toward_its_own_start():
    original = L2SPAnchor(_net(), 1.0)
    twin = copy.deepcopy(original)
    with torch.no_grad():
        for p in twin.module.parameters():
            p.add_(0.5)
    x = torch.randn(5, 4)
    reference = _net()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(0.5)
    for g_twin, g_ref in zip(_grads(twin, x), _grads(reference, x), strict=True):
        torch.testing.assert_close(g_twin, g_ref + 0.5)  # pull = 1.0 * (θ0 + 0.5 - θ0)
    for g_original, g_plain in zip(_grads(original, x), _grads(_net(), x), strict=True):
        torch.testing.assert_close(g_original, g_plain)  # the original has not moved: no pull


def test_sidetune_l2sp_is_a_registered_method_whose_side_is_anchored():
    from policies.methods import PolicyConfig, build_encoder, method_spec

    spec = method_spec("sidetune-l2sp")
    assert spec is not None and spec.frozen_base and spec.merges  # cached base features, α shown in reports

    def moved(strength: float):
        torch.manual_seed(0)
        config = PolicyConfig(method="sidetune-l2sp", base="random", l2sp_strength=strength)
        encoder = build_encoder(config, (32, 32))
        with torch.no_grad():
            for p in encoder.side.module.parameters():
                p.add_(0.01)
        return encoder

    x = torch.rand(2, 3, 32, 32) * 2 - 1
    anchored, free = moved(2.0), moved(0.0)
    assert isinstance(anchored.side, L2SPAnchor) and anchored.side.strength == 2.0
    assert any(name.startswith("side.anchor_") for name in anchored.state_dict())  # saved with checkpoints
    for encoder in (anchored, free):
        encoder(x).sum().backward()
    for p, q in zip(anchored.side.module.parameters(), free.side.module.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad + 2.0 * 0.01)
