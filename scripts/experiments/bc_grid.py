"""The BC grid of the paper's Fig. 3c on the CPU preset: sweeps/bc_grid.yaml run by the sweep command.

    nohup nice -n 5 .venv/bin/python scripts/experiments/bc_grid.py --trajectories 49 490 4900 > runs/bc_grid.log 2>&1 &

A thin call of ``scripts/sweep.py sweeps/bc_grid.yaml`` (docs/scaling.md) whose flags replace the file's grid:
each (trajectories, seed, method) cell is a Ray task writing ``runs/<experiment>/<method>-<N>[-seed<s>]``;
finished cells (results.json) are skipped and interrupted ones resumed, so the script can be restarted.
``--deadline HH:MM`` (UTC) starts no run after that time. The table (``sweep.md``) and the plot
(``plots/``) are written in ``runs/<experiment>`` at the end. ``--runs-root DIR`` puts the cells (and the
written sweep file) under DIR instead of runs/; ``--dry-run`` lists each cell's state and command.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the checkout's packages first

from agents.commands import sweep  # noqa: E402
from policies.methods import method_names  # noqa: E402

METHODS = ("features", "finetune", "scratch", "sidetune")  # the paper's Fig. 3c grid


def main() -> int:
    """Write the grid the flags ask for as a sweep file in the experiment folder and run it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, nargs="+", default=[49, 490, 4900])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(method_names()))
    parser.add_argument("--experiment", default="bc_grid")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="run.seed values (folders of seed s > 0 end in -seed<s>)"
    )
    parser.add_argument("--deadline", default=None, help="HH:MM UTC; no run starts after it")
    parser.add_argument("--num-cpus", default=None, help="CPUs of the local Ray (default: all cores)")
    parser.add_argument("--runs-root", type=Path, default=ROOT / "runs", help="where the cells go (default: runs/)")
    parser.add_argument("--dry-run", action="store_true", help="print each cell's state and command; run nothing")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every run (e.g. bc.threads=2)")
    args = parser.parse_intermixed_args()
    spec = yaml.safe_load((ROOT / "sweeps" / "bc_grid.yaml").read_text())
    spec.update(
        experiment=args.experiment, grid={"trajectories": args.trajectories, "seed": args.seeds, "method": args.methods}
    )
    path = args.runs_root / f"{args.experiment}.sweep.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    argv = [str(path), "--runs-root", str(args.runs_root), "--no-progress", *args.overrides]
    argv += ["--dry-run"] if args.dry_run else []
    argv += ["--deadline", args.deadline] if args.deadline else []
    argv += ["--num-cpus", args.num_cpus] if args.num_cpus else []
    return sweep.main(argv)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, sweep._interrupt)
    sys.exit(main())
