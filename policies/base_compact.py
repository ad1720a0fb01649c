"""A compact CPU-scale encoder with the Taskonomy output contract (8 x H/16 x W/16).

Four stride-2 stages (3x3 convs + BatchNorm + ReLU, residual blocks in the deeper stages) and the
same head as the Taskonomy encoder (`compress1` 3x3 conv -> 8, `compress_bn`, ReLU, affine-free
GroupNorm), so features from either family are interchangeable downstream.
"""

from __future__ import annotations

import torch
from torch import nn

from policies.contract import FEATURE_CHANNELS, check_image_size


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 conv + BN layers with an identity shortcut."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + x)


class CompactEncoder(nn.Module):
    """Compact encoder: [N, 3, H, W] in [-1, 1] -> [N, 8, H/16, W/16].

    `widths` are the channels of the four stride-2 stages; `blocks` the residual blocks after each.
    """

    arch = "compact"

    def __init__(
        self,
        widths: tuple[int, int, int, int] = (24, 32, 64, 128),
        blocks: tuple[int, int, int, int] = (0, 0, 1, 1),
        normalize_outputs: bool = True,
    ):
        super().__init__()
        stages, cin = [], 3
        for width, n_blocks in zip(widths, blocks, strict=True):
            stages.append(nn.Sequential(_conv_bn_relu(cin, width, 2), *[ResidualBlock(width) for _ in range(n_blocks)]))
            cin = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.compress1 = nn.Conv2d(cin, FEATURE_CHANNELS, kernel_size=3, padding=1, bias=False)
        self.compress_bn = nn.BatchNorm2d(FEATURE_CHANNELS)
        self.relu1 = nn.ReLU(inplace=True)
        self.groupnorm = nn.GroupNorm(FEATURE_CHANNELS, FEATURE_CHANNELS, affine=False)
        self.normalize_outputs = normalize_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_size(x.shape[-2], x.shape[-1], "the compact base")
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.relu1(self.compress_bn(self.compress1(x)))
        return self.groupnorm(x) if self.normalize_outputs else x
