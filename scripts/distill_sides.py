"""Distil the shipped side networks from the shipped bases (the `sidetune` preset's side initialisation).

The paper's code distilled its side network from the base before imitation (L2 for curvature, L1 for
denoising) and, for RL, started the side as a copy of the same distilled weights, so side-tuning starts from
the base's features instead of noise. This writes, for each shipped base,
`policies/weights/side_<side>_<base>_<arch>_r<resolution>.pth` (+ `.json`: losses on held-out buildings):

    python scripts/distill_sides.py --resolution 128 --steps 3000

Images come from the TRAINING buildings (random navigable poses); held-out buildings only measure the fit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.pretraining.dataset import render_set  # noqa: E402
from agents.pretraining.tasks import pretrain_task  # noqa: E402
from policies.bases import load_base, pretrained_base_names  # noqa: E402
from policies.checkpoints import save_encoder_weights  # noqa: E402
from policies.contract import uint8_to_unit_range  # noqa: E402
from policies.distill import distill_side  # noqa: E402
from policies.freeze import Frozen  # noqa: E402
from policies.side import build_side, side_choices, side_weights_path, xavier_init_  # noqa: E402


@torch.no_grad()
def relative_error(side: torch.nn.Module, base: torch.nn.Module, images: torch.Tensor) -> float:
    """Mean squared distillation error over the variance of the base's features (0: exact, 1: as bad as the mean)."""
    side.eval()
    target = torch.cat([base(images[i : i + 64]) for i in range(0, len(images), 64)])
    pred = torch.cat([side(images[i : i + 64]) for i in range(0, len(images), 64)])
    return float(((pred - target) ** 2).mean() / target.var(dim=0, unbiased=False).mean().clamp_min(1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=128, help="the bases' pretraining resolution (default 128)")
    parser.add_argument(
        "--side", default="fcn5_small", choices=side_choices(), help="side network to distil (default fcn5_small)"
    )
    parser.add_argument("--arch", default="compact", help="base architecture (default compact)")
    parser.add_argument("--bases", nargs="+", default=list(pretrained_base_names()), choices=pretrained_base_names())
    parser.add_argument("--images", type=int, default=4000, help="training-building images (default 4000)")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps (default 3000)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train = uint8_to_unit_range(
        render_set("denoising", "train", args.images, args.resolution, args.seed, progress=True).rgb
    )
    heldout = uint8_to_unit_range(render_set("denoising", "heldout", 256, args.resolution, args.seed).rgb)
    for name in args.bases:
        base = Frozen(load_base(name, args.arch, resolution=args.resolution))
        side = xavier_init_(build_side(args.side, args.arch))
        started = time.perf_counter()
        history = distill_side(
            side, base, train, args.steps, args.batch_size, args.lr, pretrain_task(name).distill_loss, args.seed
        )
        out = save_encoder_weights(side, side_weights_path(args.side, name, args.arch, args.resolution))
        report = {
            "side": args.side,
            "base": name,
            "arch": args.arch,
            "resolution": args.resolution,
            "loss": pretrain_task(name).distill_loss,
            "train_images": args.images,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "seed": args.seed,
            "seconds": round(time.perf_counter() - started, 1),
            "parameters": sum(p.numel() for p in side.parameters()),
            "final_train_loss": round(sum(history[-50:]) / len(history[-50:]), 6),
            "heldout_relative_mse": round(relative_error(side, base, heldout), 4),
            "heldout_relative_mse_at_init": round(
                relative_error(xavier_init_(build_side(args.side, args.arch)), base, heldout), 4
            ),
        }
        out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
