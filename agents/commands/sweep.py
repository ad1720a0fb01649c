"""Run a sweep file's grid of BC, PPO or pretraining runs as Ray tasks (see docs/scaling.md).

    .venv/bin/python scripts/sweep.py sweeps/bc_grid.yaml                    # a local Ray on this machine's cores
    .venv/bin/python scripts/sweep.py sweeps/bc_grid.yaml --num-cpus 2       # at most 2 one-CPU cells at once
    .venv/bin/python scripts/sweep.py sweeps/bc_grid.yaml --address auto     # the Ray cluster this node belongs to
    .venv/bin/python scripts/sweep.py sweeps/bc_grid.yaml --dry-run          # list the cells and their commands

Cells write runs/<experiment>/<cell> as the trainer's own script does; finished cells are skipped and
interrupted ones resumed, so rerunning the same command continues a sweep. Needs the `cluster` extra
(pip install -e ".[cluster]"). Console command: sidetune-sweep. Exit status: 0 every cell done, 1 some
failed or did not start, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
import sys

from agents.run.cli import error_line
from agents.sweeps.sweep import (
    Cell,
    SweepError,
    SweepSpec,
    cell_command,
    cell_config,
    expand,
    load_sweep,
    resolve_deadline,
    run_sweep,
)
from common.errors import UserError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="sweep file (YAML), e.g. sweeps/bc_grid.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides added to every cell")
    parser.add_argument(
        "--address", default=None, help="an existing Ray cluster (e.g. auto, or HOST:6379); default: start a local one"
    )
    parser.add_argument("--num-cpus", type=float, default=None, help="CPUs of the local Ray (default: all cores)")
    parser.add_argument("--num-gpus", type=float, default=None, help="GPUs of the local Ray (default: all visible)")
    parser.add_argument(
        "--runs-root", default=None, help="where run folders go (default: the file's runs_root, else runs/)"
    )
    parser.add_argument(
        "--deadline",
        default=None,
        metavar="HH:MM",
        help="UTC; no cell starts after it (the next such time: 00:30 given at 22:50 is after midnight)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print each cell's state and command; run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_intermixed_args(argv)


def cell_state(spec: SweepSpec, cell: Cell) -> str:
    """done, running (in another process, named by its pid), resume (it has a checkpoint) or start."""
    if cell.done(spec.engine):
        return "done"
    pid = cell.writer()
    if pid is not None:
        return f"running (pid {pid})"
    return "resume" if cell.resumable(spec.engine) else "start"


def dry_run(spec: SweepSpec) -> None:
    """Print each cell's state (cell_state) and the command that would run it."""
    for cell in expand(spec):
        cell_config(spec, cell)
        print(f"{cell.name}\t{cell_state(spec, cell)}\t{' '.join(cell_command(spec, cell))}")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler ending the job) stops the sweep like Ctrl-C: cells cancelled, report written."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Check the input, run (or list) the sweep, return the exit status."""
    args = parse_args(argv)
    try:
        if args.deadline and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", args.deadline):
            raise SweepError(f"--deadline: {args.deadline!r} is not a time (use HH:MM in UTC, e.g. 06:30)")
        spec = load_sweep(args.sweep, args.runs_root)
        bad = [o for o in args.overrides if "=" not in o]
        if bad:
            raise SweepError(f"overrides: {bad[0]!r} is not key=value (e.g. bc.threads=1)")
        spec = dataclasses.replace(spec, overrides=[*spec.overrides, *args.overrides])
        if args.dry_run:
            dry_run(spec)
            return 0
        deadline = resolve_deadline(args.deadline) if args.deadline else None
        cells = run_sweep(spec, args.address, args.num_cpus, args.num_gpus, deadline, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume (finished cells are skipped)", file=sys.stderr)
        return 130
    except UserError as err:  # SweepError, ConfigError (a cell's config), a bad pool, a folder it cannot write
        print(error_line(err), file=sys.stderr)
        return 2
    not_done = [c for c in cells if c["status"] != "done"]
    print(
        f"{len(cells) - len(not_done)} of {len(cells)} cells done"
        + (f"; not done: {', '.join(c['cell'] for c in not_done)}" if not_done else "")
    )
    return 1 if not_done else 0


def cli() -> None:
    """Console entry point (sidetune-sweep; python scripts/sweep.py)."""
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())
