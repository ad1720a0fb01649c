"""Frames/s of the batched renderer per device, batch size and resolution (a timing script, not a test).

Ratios are against numba ('cpu') at batch 1 and the same resolution, measured in the same run, because this
machine is shared and absolute numbers drift. Example: ``.venv/bin/python scripts/bench_render.py``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from envs.embedded.buildings import generate_building
from envs.embedded.renderer import Renderer


def random_poses(buildings, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random building indices and free-cell positions/headings (what a batch of agents looks like)."""
    idx = rng.integers(0, len(buildings), count)
    pos = np.empty((count, 2))
    for k, b in enumerate(idx):
        free = np.argwhere(buildings[b].walls == 0)
        i, j = free[rng.integers(len(free))]
        pos[k] = ((j + 0.5) * buildings[b].cell_size, (i + 0.5) * buildings[b].cell_size)
    return idx, pos, rng.uniform(-np.pi, np.pi, count)


def frames_per_second(renderer: Renderer, idx, pos, head, sensors, min_seconds: float) -> float:
    """Best-of timing: repeat calls for ``min_seconds`` (at least 3) and use the fastest (least disturbed)."""
    renderer.render(idx, pos, head, sensors)  # compile / warm up
    best, spent, calls = float("inf"), 0.0, 0
    while spent < min_seconds or calls < 3:
        start = time.perf_counter()
        renderer.render(idx, pos, head, sensors)
        took = time.perf_counter() - start
        best, spent, calls = min(best, took), spent + took, calls + 1
    return len(idx) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    devices = ["cpu", "torch-cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    parser.add_argument("--devices", nargs="+", default=devices)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--sensors", nargs="+", default=["rgb"])
    parser.add_argument("--buildings", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.3, help="minimum timing per configuration")
    args = parser.parse_args()

    buildings = [generate_building(f"bench{k}", k) for k in range(args.buildings)]
    rng = np.random.default_rng(0)
    sensors = tuple(args.sensors)
    print(f"torch threads {torch.get_num_threads()}; sensors {sensors}; {args.buildings} buildings")
    print(f"{'device':>10} {'res':>5} {'batch':>6} {'frames/s':>10} {'ms/call':>9} {'vs numba b1':>12}")
    for res in args.resolutions:
        numba = Renderer(buildings, res, device="cpu")
        baseline = frames_per_second(numba, *random_poses(buildings, 1, rng), sensors, args.seconds)
        for device in args.devices:
            renderer = numba if device == "cpu" else Renderer(buildings, res, device=device)
            for batch in args.batches:
                idx, pos, head = random_poses(buildings, batch, rng)
                fps = frames_per_second(renderer, idx, pos, head, sensors, args.seconds)
                print(
                    f"{device:>10} {res:>5} {batch:>6} {fps:>10.0f} {1e3 * batch / fps:>9.2f} {fps / baseline:>11.1f}x"
                )


if __name__ == "__main__":
    main()
