"""SB3 features extractor for Dict observations with an RGB image: the side-tuning policy's trunk.

What the extractor receives: SB3's `preprocess_obs` casts observations to float and, when the policy's
`normalize_images=True`, divides uint8 image spaces by 255. `policy_kwargs()` sets
`normalize_images=False`, so uint8 image keys arrive as they are (`SideTunePolicy` skips SB3's cast for
`raw_image_keys`) or as floats in [0, 255] (other callers); set `images_normalized=True` in the config if you keep
SB3's division (then they arrive in [0, 1]). Either way they are mapped to float32 in [-1, 1] in one pass.

Per key:
- `rgb_key` ([3k, H, W], k stacked frames): each frame -> method encoder -> [8, H/16, W/16]; frames
  stacked on channels -> GroupNorm -> conv 4x4/2 -> ReLU -> flatten.
- other 3-D Box keys (images such as the visited map): 3x3 max-pool (stride 1) -> conv 8/4 -> 4/2 -> 3/1.
- 1-D Box keys (such as the goal vector): a two-layer MLP.
All parts are concatenated and fused by a linear layer to `features_dim`.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from policies.contract import (
    FEATURE_CHANNELS,
    IMAGE_CHANNELS,
    check_finite_observations,
    feature_shape,
    uint8_to_unit_range,
)
from policies.methods import MethodEncoder, PolicyConfig, build_encoder
from policies.optim import SideTuneAdam

BASE_FEATURES_KEY = "base_features"  # optional extractor input: precomputed frozen-base features [N, 8k, h, w]


def _is_uint8_image(space: spaces.Box) -> bool:
    return space.dtype == "uint8" and len(space.shape) == 3


class ImageScaler(nn.Module):
    """Map uint8-valued images (uint8 or float tensors) to float32 in [-1, 1], from [0, 255]
    (`uint8_to_unit_range`) or from [0, 1] when already normalized, in `memory_format`."""

    def __init__(self, images_normalized: bool):
        super().__init__()
        self.images_normalized = images_normalized

    def forward(self, x: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
        if self.images_normalized:
            return (x.float() * 2.0 - 1.0).contiguous(memory_format=memory_format)
        return uint8_to_unit_range(x, memory_format)


class RGBHead(nn.Module):
    """Stacked encoder features [N, 8k, h, w] (+ optional tiled vectors [N, v]) -> GroupNorm -> conv -> ReLU -> flat.

    The paper's head: GroupNorm over the stacked features, the goal tiled beside them, one conv to 32 channels."""

    def __init__(self, frames: int, h: int, w: int, channels: int, kernel: int, stride: int, tiled: int = 0):
        super().__init__()
        if min(h, w) < kernel:
            kernel, stride = 1, 1  # tiny feature maps (e.g. 32x32 images -> 2x2): a 1x1 conv
        self.norm = nn.GroupNorm(frames, FEATURE_CHANNELS * frames)
        padding = (kernel - 1) // 2 if stride == 1 else 0  # stride 1 keeps the map size (3x3 -> 'same')
        self.conv = nn.Conv2d(
            FEATURE_CHANNELS * frames + tiled, channels, kernel_size=kernel, stride=stride, padding=padding
        )
        self.out_dim = (
            channels * ((h + 2 * padding - kernel) // stride + 1) * ((w + 2 * padding - kernel) // stride + 1)
        )

    def forward(self, features: torch.Tensor, tiled: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(features)
        if tiled is not None:
            x = torch.cat([x, tiled[:, :, None, None].expand(-1, -1, *x.shape[-2:])], dim=1)
        return torch.relu(self.conv(x)).flatten(1)


class RGBTower(nn.Module):
    """k stacked RGB frames [N, 3k, H, W] -> per-frame encoder -> stacked features -> conv head -> flat."""

    def __init__(
        self,
        encoder: MethodEncoder,
        frames: int,
        height: int,
        width: int,
        head_channels: int,
        head_kernel: int = 4,
        head_stride: int = 2,
        tiled: int = 0,
    ):
        super().__init__()
        self.encoder, self.frames = encoder, frames
        _, h, w = feature_shape(height, width)
        self.head = RGBHead(frames, h, w, head_channels, head_kernel, head_stride, tiled)
        self.out_dim = self.head.out_dim

    def base_features(self, rgb: torch.Tensor) -> torch.Tensor:
        """[N, 3k, H, W] in [-1, 1] -> the base's stacked features [N, 8k, H/16, W/16] (each frame on its own)."""
        n, _, height, width = rgb.shape
        per_frame = self.encoder.base(rgb.reshape(n * self.frames, IMAGE_CHANNELS, height, width))
        return per_frame.reshape(n, self.frames * FEATURE_CHANNELS, *per_frame.shape[-2:])

    def features(self, rgb: torch.Tensor | None, base_features: torch.Tensor | None = None) -> torch.Tensor:
        """[N, 3k, H, W] in [-1, 1] -> stacked encoder features [N, 8k, H/16, W/16]. `base_features`
        [N, 8k, H/16, W/16] are the frozen base's outputs for these frames (a feature cache); `rgb` may then
        be None when the method has no side network."""
        frames = None
        if rgb is not None:
            n, _, height, width = rgb.shape
            frames = rgb.reshape(n * self.frames, IMAGE_CHANNELS, height, width)
        if base_features is None:
            per_frame = self.encoder(frames)
        else:
            n = base_features.shape[0]
            base = base_features.reshape(n * self.frames, FEATURE_CHANNELS, *base_features.shape[-2:])
            per_frame = self.encoder(frames, base_features=base)
        return per_frame.reshape(n, self.frames * FEATURE_CHANNELS, *per_frame.shape[-2:])

    def forward(
        self, rgb: torch.Tensor | None, base_features: torch.Tensor | None = None, tiled: torch.Tensor | None = None
    ) -> torch.Tensor:
        # contiguous: torch 2.13's CPU GroupNorm backward crashes on a channels_last input without grad
        return self.head(self.features(rgb, base_features).contiguous(), tiled)


class MaxFilter3x3(nn.Module):
    """`nn.MaxPool2d(3, stride=1, padding=1)` as two separable shifted maxima: the same values, 8-20x faster
    on the CPU than torch's pooling kernel (docs/benchmarks.md), and no indices kept for a backward pass.
    Works on any real dtype (integers are padded with their minimum), so it can run on uint8 images."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = float("-inf") if x.is_floating_point() else torch.iinfo(x.dtype).min
        padded = nn.functional.pad(x.contiguous(), (1, 1, 1, 1), value=low)
        rows = torch.maximum(padded[..., :-2], padded[..., 1:-1])
        rows = torch.maximum(rows, padded[..., 2:])
        out = torch.maximum(rows[..., :-2, :], rows[..., 1:-1, :])
        return torch.maximum(out, rows[..., 2:, :])


def image_cnn(channels: int, height: int, width: int, key: str, out_channels: int = 32) -> tuple[nn.Module, int]:
    """Small CNN for auxiliary images (the paper's map tower); returns it and its output size."""
    if min(height, width) < 36:
        raise ValueError(f"observation {key!r} is a {height}x{width} image; the map CNN needs at least 36x36")
    cnn = nn.Sequential(
        MaxFilter3x3(),  # = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        nn.Conv2d(channels, 32, kernel_size=8, stride=4),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, kernel_size=4, stride=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(64, out_channels, kernel_size=3, stride=1),
        nn.ReLU(inplace=True),
        nn.Flatten(),
    )
    with torch.no_grad():
        out_dim = cnn(torch.zeros(1, channels, height, width)).shape[1]
    return cnn, out_dim


class SideTuneExtractor(BaseFeaturesExtractor):
    """Dict observation -> features; the RGB image goes through the configured method encoder.

    `config` is the whole `PolicyConfig` (what `policy_kwargs` passes). Checkpoints that store the policy config as
    flat keyword arguments (its fields, as every run in runs/ does) are read into one here. `alphas()` reports α
    for logging; `set_step(step)` drives α curricula. SB3's orthogonal init (ortho_init=True) reaches only the
    heads: `apply` skips the method encoder, whose pretrained, copied or specially initialised weights must survive.
    """

    def __init__(self, observation_space: spaces.Dict, config: PolicyConfig | None = None, **flat_config: Any):
        if config is None:  # a checkpoint that stores the policy config as flat keyword arguments
            config = PolicyConfig.from_saved(flat_config)
        else:
            assert isinstance(config, PolicyConfig) and not flat_config, "pass config=PolicyConfig(...) alone"
        super().__init__(observation_space, features_dim=config.features_dim)
        self.config = config
        if not isinstance(observation_space, spaces.Dict) or config.rgb_key not in observation_space.spaces:
            keys = list(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else observation_space
            raise KeyError(f"rgb_key {config.rgb_key!r} is not in the observation space (keys: {keys}); set rgb_key")
        rgb_space = observation_space[config.rgb_key]
        if not isinstance(rgb_space, spaces.Box) or len(rgb_space.shape) != 3 or rgb_space.shape[0] % IMAGE_CHANNELS:
            raise ValueError(
                f"observation {config.rgb_key!r} must be a channel-first Box [3k, H, W] (k stacked RGB frames), "
                f"got {rgb_space}"
            )
        channels, height, width = rgb_space.shape
        others = {k: v for k, v in observation_space.spaces.items() if k != config.rgb_key}
        for key, space in others.items():
            if not isinstance(space, spaces.Box):
                raise TypeError(
                    f"observation {key!r} is a {type(space).__name__}; SideTuneExtractor handles Box spaces only"
                )
        # tile_goal: vector observations join the RGB head (tiled over the feature map) instead of an MLP tower
        self.tiled_keys = [k for k, v in others.items() if len(v.shape) == 1] if config.tile_goal else []
        self.rgb = RGBTower(
            build_encoder(config, (height, width)),
            channels // IMAGE_CHANNELS,
            height,
            width,
            config.head_channels,
            config.head_kernel,
            config.head_stride,
            tiled=sum(others[k].shape[0] for k in self.tiled_keys),
        )
        self.scalers = nn.ModuleDict()
        self.towers = nn.ModuleDict()
        total = self.rgb.out_dim
        for key, space in others.items():
            if key in self.tiled_keys:
                continue
            if len(space.shape) == 3:
                self.towers[key], out_dim = image_cnn(*space.shape, key=key, out_channels=config.map_channels)
            elif len(space.shape) == 1:
                hidden = config.vector_hidden
                self.towers[key] = nn.Sequential(
                    nn.Linear(space.shape[0], hidden),
                    nn.ReLU(inplace=True),
                    nn.Linear(hidden, hidden),
                    nn.ReLU(inplace=True),
                )
                out_dim = hidden
            else:
                raise ValueError(
                    f"observation {key!r} has shape {space.shape}; expected [C, H, W] images or 1-D vectors"
                )
            if _is_uint8_image(space):
                self.scalers[key] = ImageScaler(config.images_normalized)
            total += out_dim
        self.rgb_scaler = ImageScaler(config.images_normalized)
        # uint8 image keys the extractor scales itself: SideTunePolicy hands them over uncast
        self.raw_image_keys = tuple(([config.rgb_key] if _is_uint8_image(rgb_space) else []) + list(self.scalers))
        self.dropout = nn.Dropout(config.fuse_dropout)  # identity at p=0 and in eval mode
        self.last_base_features: torch.Tensor | None = None
        self.memory_format = torch.contiguous_format
        self.fuse = nn.Sequential(nn.Linear(total, config.features_dim), nn.ReLU(inplace=True))

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """Fused features; an optional `BASE_FEATURES_KEY` entry (the frozen base's stacked outputs, from
        behaviour cloning's feature cache or PPO's rollout buffer) replaces the base's forward pass and the
        RGB key may then be absent. A frozen base's features computed here are kept in `last_base_features`
        (no copy), so the rollout can store them for the update."""
        check_finite_observations(observations)
        rgb = observations.get(self.config.rgb_key)
        rgb = None if rgb is None else self.rgb_scaler(rgb, self.memory_format)  # one pass: cast, scale, layout
        tiled = torch.cat([observations[k] for k in self.tiled_keys], dim=1) if self.tiled_keys else None
        base = observations.get(BASE_FEATURES_KEY)
        self.last_base_features = None
        if base is None and rgb is not None and self.encoder.base_frozen:
            base = self.last_base_features = self.rgb.base_features(rgb)
        if self.config.blind:  # the blind reference: the image's features are zeroed (a tiled goal still passes)
            parts = [self.rgb.head(torch.zeros_like(self.rgb.features(rgb, base)).contiguous(), tiled)]
        else:
            parts = [self.rgb(rgb, base, tiled)]
        for key, tower in self.towers.items():
            parts.append(self._tower(key, tower, observations[key]))
        return self.fuse(self.dropout(torch.cat(parts, dim=1)))

    def _tower(self, key: str, tower: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """One auxiliary key through its tower. A leading max filter runs before the scaler, on the raw (uint8,
        NCHW) values: the scaling is increasing, so the result is exactly the same, for a quarter of the memory
        traffic; the scaler then writes the convs' layout."""
        if key not in self.scalers:
            return tower(x)
        scaler = self.scalers[key]
        if isinstance(tower, nn.Sequential) and isinstance(tower[0], MaxFilter3x3):
            return tower[1:](scaler(tower[0](x), self.memory_format))  # scaled straight into the convs' layout
        return tower(scaler(x, self.memory_format))

    def set_memory_format(self, memory_format: torch.memory_format) -> SideTuneExtractor:
        """Keep conv weights and image inputs in `memory_format`; torch.channels_last is the layout oneDNN's
        CPU convolutions run fastest (docs/benchmarks.md). Values agree with the default layout to float
        rounding."""
        self.memory_format = memory_format
        return self.to(memory_format=memory_format)

    @property
    def encoder(self) -> MethodEncoder:
        """The per-frame method encoder (base, side, merge)."""
        return self.rgb.encoder

    def apply(self, fn) -> SideTuneExtractor:
        """Like nn.Module.apply, but never into the method encoder (protects it from SB3's ortho_init)."""
        for child in self.children():
            (child.head if child is self.rgb else child).apply(fn)
        fn(self)
        return self

    def alphas(self) -> dict[str, float]:
        """Current blending weights of the merge (empty when the method has no α)."""
        return self.encoder.alphas()

    def set_step(self, step: int) -> None:
        """Advance α curricula to training step `step`."""
        self.encoder.set_step(step)


def policy_kwargs(config: PolicyConfig) -> dict[str, Any]:
    """`policy_kwargs` for `PPO('MultiInputPolicy', env, policy_kwargs=...)` with this extractor.

    One extractor is shared by actor and critic (one copy of the base), and SB3's division by 255 is
    switched off unless `images_normalized=True`."""
    return {
        "features_extractor_class": SideTuneExtractor,
        "features_extractor_kwargs": {"config": config},  # the checked config object, whole (SB3 pickles it)
        "share_features_extractor": True,
        "normalize_images": config.images_normalized,
        "optimizer_class": SideTuneAdam,  # α in its own parameter group (policy.alpha_lr)
        "optimizer_kwargs": {"alpha_lr": config.alpha_lr},
        "net_arch": list(config.net_arch),
    }
