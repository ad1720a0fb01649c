"""Side networks (same output contract as the base) and their initialisations."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from common.errors import BadInputError, MissingFileError
from policies.bases import SHIPPED_TASKS, WEIGHTS_DIR, build_base, canonical_arch
from policies.checkpoints import CheckpointMismatchError, describe_mismatch, load_encoder_weights
from policies.contract import FEATURE_CHANNELS
from policies.freeze import unwrap


def _conv_gn_relu(cin: int, cout: int, kernel: int, stride: int, padding: int, groups: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=kernel, stride=stride, padding=padding, bias=False),
        nn.GroupNorm(groups, cout),
        nn.ReLU(inplace=True),
    )


FCN5_WIDTHS = (64, 256, 256, 64)  # the paper's side network (~0.92 M parameters, beside a ~23 M ResNet-50 base)
FCN5_SMALL_WIDTHS = (
    32,
    64,
    64,
    32,
)  # ~0.09 M parameters: a fifth of the compact base (~0.48 M), as the paper's side is small beside its base


class FCN5(nn.Module):
    """The paper's 5-layer side network: [N, 3, H, W] -> [N, 8, H/16, W/16].

    Convs without bias, each followed by GroupNorm + ReLU: 3->w1 (k8 s4 p2), w1->w2 (k3 s2 p1),
    w2->w3 (k3 s2 p1), w3->w4 (k3 s1 p1), w4->8 (k3 s1 p1); a skip conv w2->8 (k3 s2 p1) from the
    second layer's output is added to the last layer's output. `widths` (w1..w4) default to the paper's
    (64, 256, 256, 64), about 0.92 M parameters; `FCN5_SMALL_WIDTHS` is the CPU presets' side.
    """

    arch = "fcn5"

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = FEATURE_CHANNELS,
        num_groups: int = 2,
        widths: tuple[int, int, int, int] = FCN5_WIDTHS,
    ):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.conv1 = _conv_gn_relu(in_channels, w1, 8, 4, 2, num_groups)
        self.conv2 = _conv_gn_relu(w1, w2, 3, 2, 1, num_groups)
        self.conv3 = _conv_gn_relu(w2, w3, 3, 2, 1, num_groups)
        self.conv4 = _conv_gn_relu(w3, w4, 3, 1, 1, num_groups)
        self.conv5 = _conv_gn_relu(w4, out_channels, 3, 1, 1, num_groups)
        self.skip = nn.Conv2d(w2, out_channels, kernel_size=3, stride=2, padding=1, bias=False)

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


SIDE_KINDS = ("fcn5", "fcn5_small", "copy", "compact", "taskonomy")
SIDE_INITS = (
    "auto",
    "distill",
    "xavier",
    "copy",
    "zero",
    "default",
)  # 'auto' is resolved by policies.methods.build_encoder


def build_side(kind: str, base_arch: str) -> nn.Module:
    """An untrained side network: 'fcn5' (the paper's), 'fcn5_small', 'copy' (the base's architecture), or an
    explicit base arch."""
    if kind == "fcn5":
        return FCN5()
    if kind == "fcn5_small":
        return FCN5(widths=FCN5_SMALL_WIDTHS)
    if kind == "copy":
        return build_base(base_arch)
    if kind in ("compact", "taskonomy", "resnet50"):
        return build_base(canonical_arch(kind))
    raise AssertionError(f"unknown side network {kind!r}; choose one of {SIDE_KINDS} (PolicyConfig checks policy.side)")


def side_weights_path(side: str, base: str, arch: str, resolution: int) -> Path:
    """Where the side `side` distilled from shipped base `base` at `resolution` lives (it may not exist)."""
    return WEIGHTS_DIR / f"side_{side}_{base}_{canonical_arch(arch)}_r{resolution}.pth"


def shipped_side_weights(side: str, base: str, arch: str, resolution: int) -> Path:
    """The shipped side checkpoint distilled from a shipped base: policies/weights/side_{side}_{base}_{arch}_r{res}.pth.

    Made by `scripts/distill_sides.py`; only shipped bases (curvature, denoising) have one, so a side distilled
    from another base needs `policy.side_weights=PATH`."""
    if base not in SHIPPED_TASKS:
        raise BadInputError(
            f"policy.side_init=distill with base {base!r}: only the shipped bases {SHIPPED_TASKS} "
            "have shipped distilled "
            "sides (set policy.side_weights to a side checkpoint made with `python -m policies.distill`, "
            "or another side_init)"
        )
    path = side_weights_path(side, base, arch, resolution)
    if not path.is_file():
        raise MissingFileError(
            f"no shipped {side} side distilled from base {base!r} at {resolution}x{resolution}: {path} is missing "
            f"(make it with `python scripts/distill_sides.py --resolution {resolution}`, or set policy.side_weights)"
        )
    return path


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


def initialise_side(
    side: nn.Module, how: str, base: nn.Module | None = None, weights: str | Path | None = None
) -> nn.Module:
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
                "`policies.distill.distill_side` or "
                "`python -m policies.distill --base ... --images frames.npy --out side.pth`"
            )
        return load_encoder_weights(side, weights)
    raise AssertionError(
        f"unknown side_init {how!r}; choose one of {SIDE_INITS} (PolicyConfig checks policy.side_init)"
    )
