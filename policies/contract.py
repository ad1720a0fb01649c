"""The Taskonomy output contract shared by every base and side network.

An encoder maps a [N, 3, H, W] image in [-1, 1] to [N, 8, H/16, W/16] features.
"""
from __future__ import annotations

import torch
from torch import nn

FEATURE_CHANNELS = 8
DOWNSAMPLE = 16
IMAGE_CHANNELS = 3


def check_image_size(height: int, width: int, who: str = "encoder") -> None:
    """Raise ValueError when an image of this size cannot produce exact 1/16 features."""
    if height < DOWNSAMPLE or width < DOWNSAMPLE or height % DOWNSAMPLE or width % DOWNSAMPLE:
        raise ValueError(
            f"{who} cannot take a {height}x{width} image: height and width must be positive "
            f"multiples of {DOWNSAMPLE} (features are 1/{DOWNSAMPLE} of the input, e.g. 128x128 -> "
            f"8x8, 256x256 -> 16x16); render the rgb observation at such a size"
        )


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
