"""Frames/s of each method preset's per-frame encoder (CPU, or --device cuda): forward (no_grad) and
forward+backward.

    python scripts/bench_policies.py --archs compact taskonomy --sizes 128 256 --batch 32 --threads 2
    python scripts/bench_policies.py --device cuda --batch 128                 # on a GPU (scripts/device_check.sh)

Prints a Markdown table (paste into docs/benchmarks.md) with each preset's forward speed as a ratio of the
`features` preset's, measured in the same run (the machine is noisy; ratios are steadier than frames/s).
Bases are random-initialised: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from policies.methods import PolicyConfig, build_encoder, method_names


def frames_per_second(step, batch: int, repeats: int, min_seconds: float) -> float:
    """Best-of-`repeats` throughput of `step()` after one warm-up call; each repeat runs >= min_seconds."""
    step()
    best = 0.0
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            step()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = max(best, calls * batch / elapsed)
    return best


def bench(
    method: str, arch: str, size: int, batch: int, repeats: int, min_seconds: float, device: str = "cpu"
) -> tuple[float, float, int]:
    # random base weights: they time the same as pretrained ones, and need no checkpoint at every arch and size
    config = PolicyConfig(method=method, base_arch=arch, base="random")
    encoder = build_encoder(config, (size, size)).to(device)
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    trainable = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def forward():
        with torch.no_grad():
            encoder(x)
        sync()

    def forward_backward():
        encoder.zero_grad(set_to_none=True)
        encoder(x).square().mean().backward()
        sync()

    encoder.eval()
    fwd = frames_per_second(forward, batch, repeats, min_seconds)
    encoder.train()
    # A frozen-only encoder has nothing to backpropagate into: its training cost is its forward.
    fwd_bwd = frames_per_second(forward_backward, batch, repeats, min_seconds) if trainable else float("nan")
    return fwd, fwd_bwd, trainable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["compact", "taskonomy"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--methods", nargs="+", default=list(method_names()), choices=list(method_names()))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    where = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine()
    )
    print(f"torch {torch.__version__}, {where}, {args.threads} threads, batch {args.batch}, device {args.device}")
    print(
        "| base arch | image | method | trainable params | forward frames/s | forward vs features "
        "| forward+backward frames/s |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    methods = ["features"] + [m for m in args.methods if m != "features"]  # the baseline first
    for arch in args.archs:
        for size in args.sizes:
            baseline = None
            for method in methods:
                fwd, fwd_bwd, trainable = bench(
                    method, arch, size, args.batch, args.repeats, args.min_seconds, args.device
                )
                baseline = baseline or fwd
                train = "— (frozen: = forward)" if fwd_bwd != fwd_bwd else f"{fwd_bwd:,.0f}"
                print(
                    f"| {arch} | {size}² | {method} | {trainable:,} | {fwd:,.0f} | {fwd / baseline:.2f}x | {train} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
