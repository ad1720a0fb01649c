"""Side networks (same output contract as the base) and their initialisations."""
from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from policies.bases import build_base, canonical_arch
from policies.checkpoints import CheckpointMismatchError, describe_mismatch, load_encoder_weights
from policies.contract import FEATURE_CHANNELS
from policies.freeze import unwrap


def _conv_gn_relu(cin: int, cout: int, kernel: int, stride: int, padding: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=padding, bias=False),
        nn.GroupNorm(groups, cout),
        nn.ReLU(inplace=True),
    )


class FCN5(nn.Module):
    """The paper's 5-layer side network (~0.92 M parameters): [N, 3, H, W] -> [N, 8, H/16, W/16].

    Convs without bias, each followed by GroupNorm + ReLU: 3->64 (k8 s4 p2), 64->256 (k3 s2 p1),
    256->256 (k3 s2 p1), 256->64 (k3 s1 p1), 64->8 (k3 s1 p1); a skip conv 256->8 (k3 s2 p1)
    from the second layer's output is added to the last layer's output.
    """

    arch = "fcn5"

    def __init__(self, in_channels: int = 3, out_channels: int = FEATURE_CHANNELS, num_groups: int = 2):
        super().__init__()
        self.conv1 = _conv_gn_relu(in_channels, 64, 8, 4, 2, num_groups)
        self.conv2 = _conv_gn_relu(64, 256, 3, 2, 1, num_groups)
        self.conv3 = _conv_gn_relu(256, 256, 3, 2, 1, num_groups)
        self.conv4 = _conv_gn_relu(256, 64, 3, 1, 1, num_groups)
        self.conv5 = _conv_gn_relu(64, out_channels, 3, 1, 1, num_groups)
        self.skip = nn.Conv2d(256, out_channels, kernel_size=3, stride=2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        early = self.conv2(self.conv1(x))
        return self.conv5(self.conv4(self.conv3(early))) + self.skip(early)


class ZeroOutputSide(nn.Module):
    """Low-energy initialisation for any side network: a per-channel gain, initialised to 0, scales
    its output, so the side starts at exactly zero (sum/FiLM/MLP merges then start as the base)
    while gradients still reach the gain (and, after the first step, the whole side)."""

    def __init__(self, side: nn.Module, channels: int = FEATURE_CHANNELS):
        super().__init__()
        self.side = side
        self.gain = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * self.side(x)


SIDE_KINDS = ("fcn5", "copy", "compact", "taskonomy")
SIDE_INITS = ("xavier", "copy", "zero", "distill", "default")


def build_side(kind: str, base_arch: str) -> nn.Module:
    """An untrained side network: 'fcn5', 'copy' (the base's architecture), or an explicit base arch."""
    if kind == "fcn5":
        return FCN5()
    if kind == "copy":
        return build_base(base_arch)
    if kind in ("compact", "taskonomy", "resnet50"):
        return build_base(canonical_arch(kind))
    raise ValueError(f"unknown side network {kind!r}; choose one of {SIDE_KINDS}")


def xavier_init_(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights for every conv and linear layer, zero biases; norms keep (1, 0)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def copy_weights_(side: nn.Module, base: nn.Module) -> nn.Module:
    """Copy the base's weights into a side network of the same architecture."""
    source = unwrap(base).state_dict()
    problem = describe_mismatch(side, source)
    if problem:
        raise CheckpointMismatchError(
            f"cannot initialise side {type(side).__name__} by copying base {type(unwrap(base)).__name__}: {problem}. "
            f"Use side='copy' (the base's architecture) with side_init='copy', or another side_init"
        )
    side.load_state_dict(copy.deepcopy(source))
    return side


def initialise_side(side: nn.Module, how: str, base: nn.Module | None = None, weights: str | Path | None = None) -> nn.Module:
    """Initialise `side` in place and return the module to use ('zero' wraps it in `ZeroOutputSide`).

    how: 'default' (PyTorch's), 'xavier', 'copy' (needs `base`), 'zero', or 'distill' (needs `weights`,
    a side checkpoint written by `policies.distill`)."""
    if how == "default":
        return side
    if how == "xavier":
        return xavier_init_(side)
    if how == "zero":
        return ZeroOutputSide(xavier_init_(side))
    if how == "copy":
        if base is None:
            raise ValueError("side_init='copy' needs the base to copy from")
        return copy_weights_(side, base)
    if how == "distill":
        if weights is None:
            raise ValueError(
                "side_init='distill' needs side_weights: a side checkpoint distilled from the base, made with "
                "`policies.distill.distill_side` or `python -m policies.distill --base ... --images frames.npy --out side.pth`"
            )
        return load_encoder_weights(side, weights)
    raise ValueError(f"unknown side_init {how!r}; choose one of {SIDE_INITS}")
