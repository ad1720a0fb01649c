"""Distillation: train a side network to reproduce a (frozen) base's features on images.

Library function `distill_side` and a CLI that writes a side checkpoint for `side_init='distill'`:
    python -m policies.distill --base curvature --arch compact --side fcn5 --images frames.npy --out side.pth
`frames.npy` holds uint8 RGB frames [N, 3, H, W] (e.g. rendered by the env).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from policies.bases import load_base, pretrained_base_names
from policies.checkpoints import save_encoder_weights
from policies.contract import uint8_to_unit_range
from policies.freeze import Frozen
from policies.side import SIDES, build_side, side_choices, xavier_init_

LOSSES = {"l2": F.mse_loss, "l1": F.l1_loss}


def distill_side(
    side: nn.Module,
    base: nn.Module,
    images: torch.Tensor,
    steps: int = 500,
    batch_size: int = 32,
    lr: float = 1e-3,
    loss: str = "l2",
    seed: int = 0,
) -> list[float]:
    """Train `side` so that side(x) ≈ base(x) on `images` ([N, 3, H, W] in [-1, 1]); returns the loss per step.

    Use each pretraining task's ``distill_loss`` (agents/pretraining/tasks.py: L2 for smooth targets such as
    curvature, L1 for denoising, as in the paper)."""
    if loss not in LOSSES:
        raise ValueError(f"unknown distillation loss {loss!r}; choose one of {sorted(LOSSES)}")
    teacher = base if isinstance(base, Frozen) else Frozen(base)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam([p for p in side.parameters() if p.requires_grad], lr=lr)
    side.train()
    history = []
    for _ in range(steps):
        batch = images[torch.randint(len(images), (min(batch_size, len(images)),), generator=generator)]
        value = LOSSES[loss](side(batch), teacher(batch))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        history.append(float(value.detach()))
    side.eval()
    return history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bases = ", ".join((*pretrained_base_names(), "random"))
    parser.add_argument("--base", required=True, help=f"{bases} or a checkpoint path")
    parser.add_argument("--arch", default="compact", help="base architecture: compact | taskonomy")
    parser.add_argument(
        "--side", default="fcn5", choices=side_choices(), help=f"side network (default fcn5). {SIDES.describe()}"
    )
    parser.add_argument("--images", required=True, type=Path, help="uint8 .npy of RGB frames [N, 3, H, W]")
    parser.add_argument("--out", required=True, type=Path, help="where to write the side checkpoint")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loss", default="l2", choices=sorted(LOSSES))
    args = parser.parse_args(argv)
    images = uint8_to_unit_range(np.load(args.images))
    side = xavier_init_(build_side(args.side, args.arch))
    history = distill_side(
        side, load_base(args.base, args.arch), images, args.steps, args.batch_size, args.lr, args.loss
    )
    save_encoder_weights(side, args.out)
    print(f"distilled {args.side} from {args.base}: loss {history[0]:.4f} -> {history[-1]:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
