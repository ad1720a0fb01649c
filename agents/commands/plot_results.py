"""Plot results of whatever runs exist: BC success/SPL vs trajectories (Fig. 3c) and PPO curves (Fig. 3d).

    .venv/bin/python scripts/plot_results.py runs/ --out runs/plots

Scans the given run folders (or folders holding runs) for config.yaml, eval.json / results.json (BC) and
eval_history.json (PPO), and writes bc_vs_trajectories.{png,svg} and ppo_curves.{png,svg} (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import sys

from agents.evaluation.results_plots import plot_results
from common.errors import UserError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, draw, print what was written and skipped."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="run folders, or folders to search for runs")
    parser.add_argument("--out", default="runs/plots", help="folder for the PNG and SVG files")
    args = parser.parse_args(argv)
    try:
        summary = plot_results(args.paths, args.out)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{summary['runs']} run folders: {summary['bc_runs']} BC results, {summary['ppo_runs']} PPO histories")
    for path in summary["written"]:
        print(f"wrote {path}")
    for reason in summary["skipped"]:
        print(f"skipped {reason}")
    return 0


def cli() -> None:
    """Console entry point (exit status from main)."""
    sys.exit(main())
