"""The Taskonomy output contract shared by every base and side network.

An encoder maps a [N, 3, H, W] image in [-1, 1] to [N, 8, H/16, W/16] features.
"""

from __future__ import annotations

import torch
from torch import nn

from common.config import IMAGE_MULTIPLE, check_resolution

FEATURE_CHANNELS = 8
DOWNSAMPLE = IMAGE_MULTIPLE  # the resolution rule (common.config.check_resolution) keeps image sides multiples of this
IMAGE_CHANNELS = 3
# a policy's networks normalise over its feature map, which a 1x1 map (16x16 images) cannot feed in training
MIN_POLICY_RESOLUTION = 2 * DOWNSAMPLE


def check_image_size(height: int, width: int, who: str = "encoder") -> None:
    """The one resolution rule (``common.config.check_resolution``, a ConfigError) applied to an image's
    height and width, naming ``who`` takes the image."""
    check_resolution(height, f"{who}: image height")
    check_resolution(width, f"{who}: image width")


def uint8_to_unit_range(frames, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """uint8-valued RGB (array or tensor, uint8 or float) -> float32 in [-1, 1], the Taskonomy input convention.

    One pass over the pixels: uint8 input is divided in float32 straight into a fresh tensor of
    `memory_format` (4-D input only), so the cast and the layout change cost no extra copies; the values are
    exactly those of ``x.float().div(127.5) - 1``."""
    x = torch.as_tensor(frames)
    if x.dtype not in (torch.uint8, torch.float32):
        x = x.float()  # e.g. float64 mean images: rounded to float32 first, as x.float() would
    if x.dim() != 4:
        memory_format = torch.contiguous_format
    out = torch.empty(x.shape, dtype=torch.float32, device=x.device, memory_format=memory_format)
    return torch.div(x, 127.5, out=out).sub_(1.0)


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
            raise ValueError(
                f"observation {key!r}: non-finite values (NaN or inf) in batch rows {rows} "
                "(check what produced this observation)"
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
