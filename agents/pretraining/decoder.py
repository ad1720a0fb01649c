"""A small decoder from base features [N, 8, H/16, W/16] back to a full-resolution target [N, C, H, W].

Used only during pretraining (and for the docs picture): it is deliberately light so that the 8-channel
bottleneck, not the decoder, has to carry the information, and cheap on a CPU: three x2 bilinear upsampling
stages (each a 3x3 conv + GroupNorm + ReLU) reach half resolution, a 3x3 conv maps to the target channels
there, and a final bilinear x2 gives full resolution (linear output; targets live in [-1, 1]). Detail finer
than 2 pixels cannot pass an 8 x H/16 x W/16 bottleneck anyway.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from policies.contract import DOWNSAMPLE, FEATURE_CHANNELS


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(min(8, cout), cout), nn.ReLU(inplace=True)
    )


class Decoder(nn.Module):
    """Features [N, 8, h, w] -> target [N, out_channels, 16h, 16w]."""

    def __init__(self, out_channels: int, widths: tuple[int, ...] = (64, 48, 32, 24)):
        super().__init__()
        if 2 ** len(widths) != DOWNSAMPLE:
            raise ValueError(
                f"decoder needs {DOWNSAMPLE.bit_length() - 1} widths "
                f"(a stem + one per x2 stage to half resolution); got {widths}"
            )
        self.stem = _block(FEATURE_CHANNELS, widths[0])
        self.stages = nn.ModuleList(_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=False))
        self.head = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        self.out_channels = out_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 4 or features.shape[1] != FEATURE_CHANNELS:
            raise ValueError(f"decoder expects features [N, {FEATURE_CHANNELS}, h, w]; got {tuple(features.shape)}")
        x = self.stem(features)
        for stage in self.stages:
            x = stage(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        return F.interpolate(self.head(x), scale_factor=2, mode="bilinear", align_corners=False)
