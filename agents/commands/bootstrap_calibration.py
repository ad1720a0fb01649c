"""Coverage and width of the paired seed x episode bootstrap (agents/evaluation/stats.py) on synthetic binary success.

    OMP_WAIT_POLICY=PASSIVE nice .venv/bin/python scripts/bootstrap_calibration.py --datasets 200

Two identical methods, 420 episodes whose success probabilities are drawn once from U(0.2, 0.95) and shared
(episode difficulty), each training seed shifting every probability by N(0, seed_sd). For each setting the
true standard deviation of mean(A) - mean(B) is measured over ``--datasets`` simulated pairs and compared
with the bootstrap's 95% half-width; coverage is how often the interval contains 0 (nominal 95%).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from agents.evaluation.stats import paired_bootstrap

SETTINGS = ((6, 0.0), (6, 0.03), (3, 0.03))  # (seeds, seed_sd)
EPISODES = 420


def simulate(rng: np.random.Generator, p: np.ndarray, seeds: int, seed_sd: float) -> dict[int, dict[str, float]]:
    """One method's runs: {seed: {episode id: success}}."""
    runs = {}
    for s in range(seeds):
        q = np.clip(p + rng.normal(0, seed_sd), 0, 1)
        runs[s] = {str(e): float(x) for e, x in enumerate(rng.random(len(p)) < q)}
    return runs


def main(argv: list[str] | None = None) -> int:
    """Print one line per setting."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=200, help="simulated pairs per setting (default 200)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap replicates per interval (default 2000)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    if args.datasets < 10 or args.resamples < 1000:
        print("error: --datasets/--resamples: too few (use >= 10 datasets and >= 1000 resamples)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    for seeds, seed_sd in SETTINGS:
        p = rng.uniform(0.2, 0.95, EPISODES)
        started, diffs, halves, covered = time.perf_counter(), [], [], 0
        for _ in range(args.datasets):
            d = paired_bootstrap(
                simulate(rng, p, seeds, seed_sd), simulate(rng, p, seeds, seed_sd), resamples=args.resamples
            )
            diffs.append(d.mean)
            halves.append((d.ci95[1] - d.ci95[0]) / 2)
            covered += d.ci95[0] <= 0.0 <= d.ci95[1]
        sd = float(np.std(diffs))
        print(
            f"seeds={seeds} seed_sd={seed_sd}: true sd {sd:.4f}, mean 95% half-width {np.mean(halves):.4f} "
            f"({np.mean(halves) / 1.96 / sd:.2f} x 1.96 sd), coverage {covered}/{args.datasets} "
            f"({time.perf_counter() - started:.0f} s)"
        )
    return 0


def cli() -> None:
    """Console entry point."""
    sys.exit(main())
