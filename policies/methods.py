"""Methods as registered specs (``METHODS``), built from one config.

A method is one ``MethodSpec`` entry (how it uses the base, whether it has a side network and a merge) and a
build function; every check, report and CLI asks this table (``method_spec``, ``method_names``) rather than
testing method names, so a new method (an adapter, LoRA) is added with one ``register_method`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

from common.config import check_choice, check_range, opt, parse_section
from common.registry import Registry
from policies.anchor import L2SPAnchor
from policies.bases import (
    ARCH_ALIASES,
    ARCHITECTURES,
    build_base,
    canonical_arch,
    load_base,
    pretrained_base_names,
)
from policies.contract import check_image_size, feature_shape, probe_output_shape
from policies.curriculum import make_schedule, schedule_rule
from policies.freeze import Frozen, precision_names, set_trainable
from policies.merge import MERGES, AlphaBlend, Merge, alpha_rule, build_merge
from policies.side import (
    build_side,
    canonical_side,
    initialise_side,
    shipped_side_weights,
    side_choices,
    side_init_names,
    side_weights_path,
)

BaseUse = Literal["frozen", "trainable", "scratch"]  # pretrained and frozen | pretrained and trained | random init


@dataclass(frozen=True)
class MethodSpec:
    """One method: how it uses the base (None: no base), whether it has a side network, and its build function
    ``(PolicyConfig, (H, W)) -> MethodEncoder`` (default ``compose_encoder``: base, side and merge from the spec)."""

    name: str
    base: BaseUse | None
    side: bool
    description: str
    build: Callable[[PolicyConfig, tuple[int, int]], MethodEncoder] | None = None

    def __post_init__(self) -> None:
        if self.base is None and not self.side:
            raise ValueError(f"method {self.name!r}: a method needs a base, a side network, or both")

    @property
    def merges(self) -> bool:
        """True when base and side are merged (R = B ⊕ S, with an α when policy.merge is 'alpha')."""
        return self.base is not None and self.side

    @property
    def pretrained_base(self) -> bool:
        """True when policy.base's weights are loaded (the result depends on which base)."""
        return self.base in ("frozen", "trainable")

    @property
    def frozen_base(self) -> bool:
        """True when the base is frozen, so its features can be cached."""
        return self.base == "frozen"


METHODS: Registry[MethodSpec] = Registry("method")
register_method = METHODS.register
unregister_method = METHODS.unregister
method_names = METHODS.names
method_spec = METHODS.get  # None for a name that is not a method (e.g. a report's 'blind' row)


# Fields the policy config gained after runs and checkpoints were written with it, and the value those ran with
# where it differs from today's default (a config that lacks base_precision ran its base in float32).
SAVED_POLICY_VALUES: dict[str, Any] = {"base_precision": "float32"}


@dataclass
class PolicyConfig:
    """Everything needed to build a method encoder and the SB3 extractor around it."""

    method: str = opt("sidetune", "how base and side are used (--method)", method_names)
    base: str = opt(
        "curvature",
        "a pretrained base, random, or /path/to/encoder.pth",
        lambda: [*pretrained_base_names(), "random"],
    )
    base_arch: str = opt("compact", "compact (CPU scale) | taskonomy (ResNet-50, visualpriors layout; alias resnet50)")
    side: str = opt("fcn5_small", "the side network: fcn5_small 0.09 M, fcn5 the paper's 0.92 M", side_choices)
    side_init: str = opt("auto", "auto: distilled from the base where shipped, else xavier", side_init_names)
    side_weights: str | None = opt(None, "side checkpoint for side_init=distill; null: the shipped one of the base")
    merge: str = opt("alpha", "how base and side features combine", lambda: sorted(MERGES))
    alpha_init: float = opt(0.5, "initial α (the paper: sigmoid(0) = 0.5)")
    alpha_learned: bool = opt(True, "false: a fixed α, or a curriculum (alpha_schedule)")
    alpha_schedule: str | None = opt(None, "null | stage | hyperbolic (with alpha_learned=false); counts frames")
    alpha_switch_step: int | None = opt(None, "stage curriculum: the frame at which α switches from 1 to 0")
    alpha_k: float | None = opt(None, "hyperbolic curriculum: α = min(1, k / frames)")
    rgb_key: str = opt("rgb", "the observation key of the RGB image")
    images_normalized: bool = opt(False, "true if SB3 already divided images by 255 (normalize_images=True)")
    allow_resolution_mismatch: bool = opt(False, "true: run a pretrained base at another resolution (a warning)")
    alpha_lr: float | None = opt(0.01, "α's own learning rate (own parameter group, no decay); null: the trainer's")
    features_dim: int = opt(512, "size of the fused features fed to the actor and critic heads")
    head_channels: int = opt(32, "channels of the conv head over the stacked encoder features")
    head_kernel: int = opt(4, "that conv's kernel (stride 1 pads to keep the feature map's size)")
    head_stride: int = opt(2, "that conv's stride")
    tile_goal: bool = opt(False, "true: the goal tiled beside the features before that conv (the paper), not an MLP")
    map_channels: int = opt(32, "the map tower's last conv channels: its width in the fusion (32 -> 1,568 at 84x84)")
    fuse_dropout: float = opt(0.0, "dropout on the concatenated parts before the fusion layer")
    vector_hidden: int = opt(64, "MLP width for vector observations (the goal)")
    net_arch: list[int] = opt([], "extra hidden layers of the actor/critic heads")
    blind: bool = opt(False, "true: the blind reference (image features zeroed; map and goal only)")
    l2sp_strength: float = opt(1.0, "method sidetune-l2sp: λ of the pull toward the side's start")
    base_precision: str = opt("auto", "the frozen base's numerics; auto: bf16 where native", precision_names)
    train_precision: str = opt("float32", "PPO update / BC step trunk (bfloat16: autocast)", precision_names)

    def __post_init__(self) -> None:
        """Each field's rule, once, when the config is built (a ConfigError naming ``policy.<key>``); the rules
        that need the env or the file system are the run config's (agents/run/run_config.py)."""
        check_choice(self.method, method_names(), "policy.method")
        check_choice(self.base_precision, precision_names(), "policy.base_precision")
        check_choice(self.train_precision, precision_names(), "policy.train_precision")
        check_choice(self.base_arch, sorted(ARCHITECTURES) + sorted(ARCH_ALIASES), "policy.base_arch")
        self.base_arch = canonical_arch(self.base_arch)
        check_choice(self.side, side_choices(), "policy.side")
        self.side = canonical_side(self.side)
        check_choice(self.side_init, side_init_names(), "policy.side_init")
        check_choice(self.merge, sorted(MERGES), "policy.merge")
        for name in ("features_dim", "head_channels", "head_kernel", "head_stride", "map_channels", "vector_hidden"):
            check_range(getattr(self, name), f"policy.{name}", 1)
        check_range(self.fuse_dropout, "policy.fuse_dropout", 0, 1, high_open=True)
        check_range(self.alpha_lr, "policy.alpha_lr", 0, low_open=True)
        check_range(self.l2sp_strength, "policy.l2sp_strength", 0)
        for i, width in enumerate(self.net_arch):
            check_range(width, f"policy.net_arch[{i}]", 1)
        for problem in (
            alpha_rule(self.alpha_init, self.alpha_learned, self.alpha_schedule is not None),
            self.alpha_schedule and schedule_rule(self.alpha_schedule, self.alpha_switch_step, self.alpha_k),
        ):
            if problem:
                raise problem

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> PolicyConfig:
        """A policy config written by an earlier run (a run folder's config.yaml, a checkpoint's flat keyword
        arguments): the fields it lacks take the value such a run ran with (SAVED_POLICY_VALUES), the rest their
        defaults."""
        return cls.from_dict({**SAVED_POLICY_VALUES, **dict(values)})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PolicyConfig:
        """Build from a plain dict (e.g. a YAML section): unknown keys and wrong types are ConfigErrors by name."""
        return parse_section(cls, dict(values), "policy")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MethodEncoder(nn.Module):
    """One frame [N, 3, H, W] in [-1, 1] -> [N, 8, H/16, W/16] through base, side and merge.

    `base` (maybe `Frozen`) and `side` may each be None; with both, `merge` combines them."""

    def __init__(self, method: str, base: nn.Module | None, side: nn.Module | None, merge: Merge | None):
        super().__init__()
        if base is None and side is None:
            raise ValueError("a method encoder needs a base, a side network, or both")
        if (base is not None and side is not None) != (merge is not None):
            raise ValueError("a merge is needed exactly when there are both a base and a side network")
        self.method = method
        self.side_init: str | None = None  # what the side network started from, set by build_encoder
        self.base, self.side, self.merge = base, side, merge

    @property
    def base_frozen(self) -> bool:
        """True when the base is a `Frozen` module, so its features can be precomputed (feature cache)."""
        return isinstance(self.base, Frozen)

    def forward(self, x: torch.Tensor | None, base_features: torch.Tensor | None = None) -> torch.Tensor:
        """Encode frames `x`; `base_features` (the frozen base's output for `x`, e.g. from a feature cache)
        replaces the base's forward pass, so `x` may be None when no side network needs the pixels."""
        if base_features is not None:
            if not self.base_frozen:
                raise ValueError(
                    f"precomputed base features are only valid for a frozen base (methods features, sidetune); "
                    f"method {self.method!r} trains or lacks its base"
                )
            if self.side is None:
                return base_features
            if x is None:
                raise ValueError("the side network needs the RGB frames even when the base features are cached")
            return self.merge(base_features, self.side(x))
        if self.side is None:
            return self.base(x)
        if self.base is None:
            return self.side(x)
        return self.merge(self.base(x), self.side(x))

    def alphas(self) -> dict[str, float]:
        return self.merge.alphas() if self.merge is not None else {}

    def set_step(self, step: int) -> None:
        if self.merge is not None:
            self.merge.set_step(step)


def _build_merge(config: PolicyConfig) -> Merge:
    if config.merge != "alpha":
        return build_merge(config.merge)
    schedule = None
    if config.alpha_schedule is not None:
        schedule = make_schedule(config.alpha_schedule, config.alpha_switch_step, config.alpha_k)
    return AlphaBlend(alpha_init=config.alpha_init, learned=config.alpha_learned, schedule=schedule)


def _check_contract(name: str, module: nn.Module, height: int, width: int) -> None:
    got, expected = probe_output_shape(module, height, width), feature_shape(height, width)
    if got != expected:
        raise ValueError(
            f"the {name} outputs {got} for a {height}x{width} image but the base contract is {expected} "
            f"(8 channels at 1/16 resolution); pick a {name} with the same output contract"
        )


def build_encoder(config: PolicyConfig, image_size: tuple[int, int] = (128, 128)) -> MethodEncoder:
    """Build the per-frame encoder of `config.method` for images of `image_size` (H, W) with its spec's build
    function."""
    check_image_size(*image_size, f"method {config.method!r}")
    spec = METHODS.spec(config.method)
    return (spec.build or compose_encoder)(config, image_size)


def compose_encoder(config: PolicyConfig, image_size: tuple[int, int]) -> MethodEncoder:
    """The build function of the spec-composed methods: the base as the spec uses it, the side network
    (initialised as ``config.side_init`` says) and the merge when there are both."""
    spec = METHODS.spec(config.method)
    height, width = image_size

    def pretrained() -> nn.Module:
        return load_base(
            config.base,
            config.base_arch,
            resolution=height if height == width else None,
            allow_resolution_mismatch=config.allow_resolution_mismatch,
        )

    base = side = merge = None
    if spec.base == "frozen":
        base = Frozen(pretrained(), precision=config.base_precision)
    elif spec.base == "trainable":
        base = set_trainable(pretrained(), True)
    elif spec.base == "scratch":
        base = build_base(config.base_arch)
    if spec.side:
        source = base if base is not None else (pretrained() if config.side_init == "copy" else None)
        how, weights = config.side_init, config.side_weights
        if how == "auto":  # the shipped side distilled from this base where there is one, else Xavier
            shipped = side_weights_path(config.side, config.base, config.base_arch, height)
            how = (
                "distill"
                if weights is not None or (config.base in pretrained_base_names() and shipped.is_file())
                else "xavier"
            )
        if how == "distill" and weights is None:
            weights = shipped_side_weights(config.side, config.base, config.base_arch, height)
        side = initialise_side(build_side(config.side, config.base_arch), how, source, weights)
        side_init = f"distill ({weights})" if how == "distill" else how
        _check_contract("side network", side, height, width)
    if spec.merges:
        merge = _build_merge(config)
        _check_contract("base", base, height, width)
    encoder = MethodEncoder(config.method, base, side, merge)
    if side is not None:
        encoder.side_init = side_init  # side_init 'auto' resolved, for logs and results
    return encoder


def build_anchored_sidetune(config: PolicyConfig, image_size: tuple[int, int]) -> MethodEncoder:
    """sidetune-l2sp: side-tuning whose side network is pulled toward its start, λ = policy.l2sp_strength
    (L2-SP, policies/anchor.py), so that with little data it stays near its distillation of the base."""
    encoder = compose_encoder(config, image_size)
    encoder.side = L2SPAnchor(encoder.side, config.l2sp_strength)
    return encoder


for _spec in (
    MethodSpec("features", "frozen", False, "the pretrained base alone, frozen"),
    MethodSpec("finetune", "trainable", False, "the pretrained base, trained"),
    MethodSpec("scratch", "scratch", False, "the base's architecture from a random init, trained"),
    MethodSpec("sidetune", "frozen", True, "the frozen pretrained base + a trainable side network, merged"),
    MethodSpec("side-only", None, True, "the side network alone (initialised from the base with side_init=copy)"),
    MethodSpec(
        "sidetune-l2sp",
        "frozen",
        True,
        "sidetune with the side pulled toward its start (L2-SP)",
        build_anchored_sidetune,
    ),
):
    register_method(_spec)
