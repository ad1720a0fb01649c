"""The Taskonomy ResNet-50 encoder layout used by visualpriors (8 x H/16 x W/16 features).

Parameter names and shapes match visualpriors' `TaskonomyEncoder`, so its official
`{'state_dict': ...}` checkpoints load unchanged. Layout (differs from torchvision's ResNet-50):
the input is zero-padded by 3 before an unpadded 7x7/2 stem conv; max-pool 3/2 with ceil_mode;
bottleneck layers [3, 4, 6, 3] where layers 1 and 2 downsample (stride 2) on the *last* block's
3x3 conv with a parameter-free 1x1/2 max-pool shortcut; layers 3 and 4 keep stride 1; then
`compress1` (3x3, 2048 -> 8) + `compress_bn` + ReLU and an affine-free GroupNorm(8, 8).
Input: RGB scaled to [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from policies.contract import FEATURE_CHANNELS, check_image_size

# The official visualpriors encoders (github.com/alexsax/visual-prior, `taskonomy_network.py`): file names
# carry their SHA-256, which the download checks (torch.hub's convention).
OFFICIAL_URL_TEMPLATE = "https://github.com/alexsax/visual-prior/raw/networks/assets/pytorch/{filename}"
OFFICIAL_FILES = {
    "curvature": "curvature_encoder-3767cf5d06d9c6bca859631eb5a3c368d66abeb15542171b94188ffbe47d7571.pth",
    "denoising": "denoising_encoder-b64cab95af4a2c565066a7e8effaf37d6586c3b9389b47fff9376478d849db38.pth",
}


class TaskonomyBottleneck(nn.Module):
    """ResNet bottleneck (1x1 -> 3x3(stride) -> 1x1, expansion 4) with visualpriors' names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def _taskonomy_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """First block widens (1x1 conv + BN shortcut); the last block carries the stride (max-pool shortcut)."""
    width = planes * TaskonomyBottleneck.expansion
    widen = None
    if inplanes != width:
        widen = nn.Sequential(nn.Conv2d(inplanes, width, kernel_size=1, bias=False), nn.BatchNorm2d(width))
    layers = [TaskonomyBottleneck(inplanes, planes, downsample=widen)]
    layers += [TaskonomyBottleneck(width, planes) for _ in range(blocks - 2)]
    pool = nn.Sequential(nn.MaxPool2d(kernel_size=1, stride=stride)) if stride != 1 else None
    layers.append(TaskonomyBottleneck(width, planes, stride=stride, downsample=pool))
    return nn.Sequential(*layers)


class TaskonomyEncoder(nn.Module):
    """ResNet-50 Taskonomy encoder: [N, 3, H, W] in [-1, 1] -> [N, 8, H/16, W/16]."""

    arch = "taskonomy"

    def __init__(self, normalize_outputs: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)
        self.layer1 = _taskonomy_layer(64, 64, 3, stride=2)
        self.layer2 = _taskonomy_layer(256, 128, 4, stride=2)
        self.layer3 = _taskonomy_layer(512, 256, 6, stride=1)
        self.layer4 = _taskonomy_layer(1024, 512, 3, stride=1)
        self.compress1 = nn.Conv2d(2048, FEATURE_CHANNELS, kernel_size=3, stride=1, padding=1, bias=False)
        self.compress_bn = nn.BatchNorm2d(FEATURE_CHANNELS)
        self.relu1 = nn.ReLU(inplace=True)
        self.groupnorm = nn.GroupNorm(FEATURE_CHANNELS, FEATURE_CHANNELS, affine=False)
        self.normalize_outputs = normalize_outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_size(x.shape[-2], x.shape[-1], "the Taskonomy ResNet-50 base")
        x = F.pad(x, (3, 3, 3, 3), mode="constant", value=0.0)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.relu1(self.compress_bn(self.compress1(x)))
        return self.groupnorm(x) if self.normalize_outputs else x
