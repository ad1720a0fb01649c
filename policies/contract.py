"""The Taskonomy output contract shared by every base and side network.

An encoder maps a [N, 3, H, W] image in [-1, 1] to [N, 8, H/16, W/16] features.
"""
from __future__ import annotations

import torch
from torch import nn

from envs.config import ConfigError, check_resolution

FEATURE_CHANNELS = 8
DOWNSAMPLE = 16  # the resolution rule (envs.config.check_resolution) keeps image sides multiples of this
IMAGE_CHANNELS = 3


def check_image_size(height: int, width: int, who: str = "encoder") -> None:
    """Raise ValueError when an image of this size cannot produce exact 1/16 features (the one resolution
    rule, ``envs.config.check_resolution``, applied to each side)."""
    try:
        check_resolution(height, "height")
        check_resolution(width, "width")
    except ConfigError:
        raise ValueError(
            f"{who} cannot take a {height}x{width} image: height and width must be "
            f"multiples of {DOWNSAMPLE} between 16 and 1024 (features are 1/{DOWNSAMPLE} of the input, e.g. 128x128 -> "
            f"8x8, 256x256 -> 16x16); render the rgb observation at such a size"
        ) from None


def uint8_to_unit_range(frames) -> torch.Tensor:
    """uint8-valued RGB (array or tensor) -> float32 in [-1, 1], the Taskonomy input convention."""
    return torch.as_tensor(frames).float().div(127.5).sub(1.0)


def check_finite_observations(observations: dict[str, torch.Tensor]) -> None:
    """Raise a ValueError naming the key and the batch rows when a float observation holds NaN or inf
    (otherwise the action distribution fails later with a message that names no observation)."""
    for key, value in observations.items():
        # the sum is non-finite whenever an element is (NaN and inf propagate), at a tenth of isfinite().all()'s
        # cost on a batch of images; only then are the rows looked at (a finite sum that overflows passes there)
        if value is None or not value.is_floating_point() or bool(torch.isfinite(value.sum())):
            continue
        rows = (~torch.isfinite(value.reshape(len(value), -1)).all(dim=1)).nonzero().flatten().tolist()
        if rows:
            raise ValueError(f"observation {key!r}: non-finite values (NaN or inf) in batch rows {rows} (check what produced this observation)")


def feature_shape(height: int, width: int) -> tuple[int, int, int]:
    """Shape [C, h, w] of the features the contract promises for an image of this size."""
    return (FEATURE_CHANNELS, height // DOWNSAMPLE, width // DOWNSAMPLE)


@torch.no_grad()
def probe_output_shape(module: nn.Module, height: int, width: int) -> tuple[int, ...]:
    """Run one image through `module` (in eval mode, restored after) and return its output shape [C, h, w]."""
    was_training = module.training
    module.eval()
    try:
        parameter = next(module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        out = module(torch.zeros(1, IMAGE_CHANNELS, height, width, device=device))
    finally:
        module.train(was_training)
    return tuple(out.shape[1:])
