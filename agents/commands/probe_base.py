"""Linear probes of frozen bases on held-out frames, and denoising vs the identity (docs/pretraining.md).

    OMP_WAIT_POLICY=PASSIVE nice .venv/bin/python scripts/probe_base.py --frames 1500 --resolutions 64 128

For each resolution: render ``--frames`` frames with depth at uniform navigable poses in the held-out
buildings (the same poses at every resolution), then ridge-probe 8x8 log depth and free space ahead from
each base in ``--bases`` (shipped names or checkpoint paths), randomly initialised bases of the same
architecture (``--random-seeds``) and raw 8x8-pooled pixels (agents/evaluation/probe.py); and compare the denoising
base + decoder with returning the noisy input. Prints Markdown tables; ``--json`` keeps every number.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from agents.evaluation.probe import SPLITS, denoising_vs_identity, probe_bases, render_probe_frames
from common.atomic_io import atomic_write_text
from common.config import ConfigError, check_resolution
from policies.bases import pretrained_base_names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1500, help="held-out frames per resolution (default 1500)")
    parser.add_argument(
        "--resolutions", type=int, nargs="+", default=[64, 128], help="image sides in pixels (default 64 128)"
    )
    parser.add_argument(
        "--bases",
        nargs="+",
        default=list(pretrained_base_names()),
        help=f"shipped base names or checkpoint paths (default {' '.join(pretrained_base_names())})",
    )
    parser.add_argument("--arch", default="compact", help="base architecture (compact | taskonomy)")
    parser.add_argument(
        "--random-seeds", type=int, default=3, help="randomly initialised bases (seeds 0..K-1; default 3)"
    )
    parser.add_argument("--splits", type=int, default=SPLITS, help=f"building splits averaged (default {SPLITS})")
    parser.add_argument(
        "--denoising", default="denoising", help="denoising weights compared with the identity ('none': skip)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the frame poses and of the corruption")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every number as JSON")
    return parser.parse_args(argv)


def _check(args: argparse.Namespace) -> str | None:
    """The first bad argument as 'field: problem (fix)', or None."""
    if args.frames < 100:
        return (
            f"--frames: {args.frames} is too few for a building-split probe (use >= 1000 for the docs, >= 100 to try)"
        )
    for resolution in args.resolutions:
        try:
            check_resolution(resolution, "--resolutions")
        except ConfigError as err:
            return str(err)
    if args.random_seeds < 0 or args.splits < 1 or args.threads < 1:
        return "--random-seeds, --splits, --threads: must be >= 0, >= 1, >= 1"
    return None


def table(rows: list[dict]) -> str:
    """Markdown table of probe rows (test R², mean over building splits)."""
    out = ["| features of | features | R² 8x8 log depth | R² free space ahead |", "|---|---|---|---|"]
    out += [
        f"| {r['features_of']} | {r['features']} | {r['log_depth']['r2']:.3f} | {r['free_ahead']['r2']:.3f} |"
        for r in rows
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Probe each resolution, print the tables, return 0 (2 on bad arguments)."""
    args = parse_args(argv)
    problem = _check(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    report: dict = {"args": vars(args), "resolutions": {}}
    for resolution in args.resolutions:
        t0 = time.perf_counter()
        frames = render_probe_frames(args.frames, resolution, args.seed)
        rows = probe_bases(frames, args.bases, args.arch, range(args.random_seeds), args.splits)
        entry: dict = {"rows": rows, "frames": len(frames)}
        if args.denoising != "none":
            entry["denoising_vs_identity"] = denoising_vs_identity(frames, args.denoising, args.arch, args.seed)
        entry["seconds"] = time.perf_counter() - t0
        report["resolutions"][resolution] = entry
        print(f"\n{resolution}x{resolution}, {len(frames)} held-out frames ({entry['seconds']:.0f} s):\n")
        print(table([r for r in rows if "(seed " not in r["features_of"]]))
        if "denoising_vs_identity" in entry:
            d = entry["denoising_vs_identity"]
            print(
                f"\ndenoising L1 on held-out frames: model {d['model_l1']:.4f}, "
                f"identity (noisy input) {d['identity_l1']:.4f}, "
                f"mean image {d['mean_image_l1']:.4f}"
            )
    report["seconds"] = time.perf_counter() - started
    print(f"\ntotal {report['seconds']:.0f} s")
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(report, indent=2))
        print(f"written to {args.json}")
    return 0


def cli() -> None:
    """Console entry point."""
    sys.exit(main())
