"""The denoising corruption: what the denoising encoder sees instead of the clean image.

Images are float tensors in [-1, 1] (the encoder's input range), [N, 3, H, W]. Each image independently gets,
in this order (parameters drawn per image from the generator, so a seed fixes the corruption):

1. blur with probability ``BLUR_PROB``: a 3x3 binomial kernel ([1, 2, 1] / 4 outer product), per channel;
2. additive Gaussian noise, standard deviation uniform in ``[0, GAUSS_MAX_STD]`` (on the [-1, 1] scale, so
   0.4 is 20 % of the range), independent per pixel and channel;
3. salt-and-pepper: a fraction uniform in ``[0, SALT_PEPPER_MAX]`` of the pixels set to -1 or +1 (all
   channels, equal odds);
4. clipping to [-1, 1].

The target is the clean image. Taskonomy's denoising task used a similar mix of pixel noise; the constants
here are ours. They were raised from (0.2, 0.05, 0.3) before the imitation grid (docs/experiments.md, Design):
at that level the noisy input was so close to the clean image that returning it beat any model that must pass
the scene through the base's 8 x H/16 x W/16 bottleneck, so the task taught the encoder little.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAUSS_MAX_STD = 0.4
SALT_PEPPER_MAX = 0.1
BLUR_PROB = 0.5


def _binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """Separable [1, 2, 1] / 4 blur along rows and columns with replicated borders (cheap slicing, no conv)."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    p = (p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]) / 4
    return (p[..., :-2] + 2 * p[..., 1:-1] + p[..., 2:]) / 4


def corrupt(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupted copy of ``images`` float[N,3,H,W] in [-1, 1] (blur, Gaussian, salt-and-pepper, clip)."""
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"corrupt expects float images [N, C, H, W] in [-1, 1]; got {images.dtype} {tuple(images.shape)}"
        )
    n, c, h, w = images.shape
    dev = images.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=dev)

    out = images.clone()
    pick = (rand(n) < BLUR_PROB).nonzero().squeeze(1)  # index ops: much faster than boolean-mask assignment
    if len(pick):
        out.index_copy_(0, pick, _binomial_blur(images.index_select(0, pick)))
    std = rand(n) * GAUSS_MAX_STD
    out = out + std[:, None, None, None] * torch.randn(n, c, h, w, generator=generator, device=dev)
    hit = rand(n, 1, h, w) < rand(n)[:, None, None, None] * SALT_PEPPER_MAX
    salt = torch.where(rand(n, 1, h, w) < 0.5, -1.0, 1.0)
    out = torch.where(hit, salt, out)
    return out.clamp(-1.0, 1.0)
