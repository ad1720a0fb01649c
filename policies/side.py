"""Side networks (same output contract as the base) and their initialisations, as two registered tables
(``SIDES``, ``SIDE_INITS``): the config checks and the CLIs read the names there, so a new side network
or initialisation is one ``register`` call."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from common.errors import BadInputError, MissingFileError
from common.registry import Registry
from policies.bases import ARCH_ALIASES, WEIGHTS_DIR, build_base, canonical_arch, pretrained_base_names
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


@dataclass(frozen=True)
class SideSpec:
    """One side network: its name, a line of help and ``build(base_arch) -> nn.Module``, an untrained network with
    the base's output contract (``base_arch`` is the policy's base architecture, for sides that follow it)."""

    name: str
    description: str
    build: Callable[[str], nn.Module]


SIDES: Registry[SideSpec] = Registry("side network")
register_side = SIDES.register
side_names = SIDES.names


def side_aliases() -> dict[str, str]:
    """Other names of registered sides: a base architecture's aliases name the side of that architecture
    ('resnet50' is 'taskonomy'), as they do for policy.base_arch."""
    return {alias: arch for alias, arch in ARCH_ALIASES.items() if arch in SIDES.names()}


def side_choices() -> list[str]:
    """Every name policy.side accepts: the registered sides, then their aliases."""
    return [*SIDES.names(), *side_aliases()]


def canonical_side(name: str) -> str:
    """The registered name of side ``name`` (an alias resolved); unchanged when it is not an alias."""
    return side_aliases().get(name, name)


def build_side(kind: str, base_arch: str) -> nn.Module:
    """An untrained side network of the registered kind ``kind`` (or an alias) beside a ``base_arch`` base."""
    return SIDES.spec(canonical_side(kind)).build(base_arch)


for _spec in (
    SideSpec("fcn5", "the paper's 5-layer side network (~0.92 M parameters)", lambda base_arch: FCN5()),
    SideSpec(
        "fcn5_small",
        "fcn5 with the widths (32, 64, 64, 32), ~0.09 M parameters (the CPU presets' side)",
        lambda base_arch: FCN5(widths=FCN5_SMALL_WIDTHS),
    ),
    SideSpec("copy", "the base's own architecture (policy.base_arch)", build_base),
    SideSpec(
        "compact", "the compact base's architecture (~0.48 M parameters)", lambda base_arch: build_base("compact")
    ),
    SideSpec("taskonomy", "the Taskonomy ResNet-50 base's architecture", lambda base_arch: build_base("taskonomy")),
):
    register_side(_spec)


def side_weights_path(side: str, base: str, arch: str, resolution: int) -> Path:
    """Where the side `side` distilled from shipped base `base` at `resolution` lives (it may not exist)."""
    return WEIGHTS_DIR / f"side_{side}_{base}_{canonical_arch(arch)}_r{resolution}.pth"


def shipped_side_weights(side: str, base: str, arch: str, resolution: int) -> Path:
    """The shipped side checkpoint distilled from a shipped base: policies/weights/side_{side}_{base}_{arch}_r{res}.pth.

    Made by `scripts/distill_sides.py`; only shipped bases (`pretrained_base_names`) have one, so a side distilled
    from another base needs `policy.side_weights=PATH`."""
    if base not in pretrained_base_names():
        raise BadInputError(
            f"policy.side_init=distill with base {base!r}: only the shipped bases {pretrained_base_names()} "
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


@dataclass(frozen=True)
class SideInitSpec:
    """One side initialisation: its name, a line of help and ``apply(side, base, weights) -> module to use``
    (``base``: the policy's base, for 'copy'; ``weights``: a side checkpoint, for 'distill'). ``apply`` is None
    for a choice that ``policies.methods.build_encoder`` resolves to another one ('auto')."""

    name: str
    description: str
    apply: Callable[[nn.Module, nn.Module | None, str | Path | None], nn.Module] | None


SIDE_INITS: Registry[SideInitSpec] = Registry("side initialisation")
register_side_init = SIDE_INITS.register
side_init_names = SIDE_INITS.names


def _copy_init(side: nn.Module, base: nn.Module | None, weights: str | Path | None) -> nn.Module:
    if base is None:
        raise ValueError("side_init='copy' needs the base to copy from")
    return copy_weights_(side, base)


def _distill_init(side: nn.Module, base: nn.Module | None, weights: str | Path | None) -> nn.Module:
    if weights is None:
        raise ValueError(
            "side_init='distill' needs side_weights: a side checkpoint distilled from the base, made with "
            "`policies.distill.distill_side` or "
            "`python -m policies.distill --base ... --images frames.npy --out side.pth`"
        )
    return load_encoder_weights(side, weights)


for _init in (
    SideInitSpec(
        "auto", "the shipped side distilled from policy.base where there is one, else xavier (the presets)", None
    ),
    SideInitSpec(
        "distill", "a side checkpoint distilled from the base: policy.side_weights, or a shipped base's", _distill_init
    ),
    SideInitSpec("xavier", "Xavier-uniform weights, zero biases", lambda side, base, weights: xavier_init_(side)),
    SideInitSpec("copy", "the base's weights (the side must have the base's architecture)", _copy_init),
    SideInitSpec(
        "zero",
        "Xavier weights behind a per-channel output gain at 0, so the side starts at exactly zero",
        lambda side, base, weights: ZeroOutputSide(xavier_init_(side)),
    ),
    SideInitSpec("default", "PyTorch's default initialisation", lambda side, base, weights: side),
):
    register_side_init(_init)


def initialise_side(
    side: nn.Module, how: str, base: nn.Module | None = None, weights: str | Path | None = None
) -> nn.Module:
    """Initialise `side` in place as the registered initialisation `how` says and return the module to use
    ('zero' wraps it in `ZeroOutputSide`); 'copy' needs `base`, 'distill' needs `weights` (a side checkpoint
    written by `policies.distill`)."""
    spec = SIDE_INITS.spec(how)
    if spec.apply is None:
        raise ValueError(f"side_init={how!r} is resolved by policies.methods.build_encoder, not applied to a side")
    return spec.apply(side, base, weights)
