"""Evaluate runs on the held-out episode set and print one table (docs/evaluation.md).

    .venv/bin/python scripts/evaluate.py runs/ppo/seed0 runs/ppo/seed1 runs/bc/* --reference
    .venv/bin/python scripts/evaluate.py --reference --set env.resolution=64   # reference rows only
    .venv/bin/python scripts/evaluate.py ppo-sidetune-curvature --videos 2     # a shipped trained agent, watched

A RUN_DIR that is no path but a shipped agent's name (trained_agents/, docs/trained_agents.md) is first made
into a run folder under runs/agents/ and evaluated like any run; `--videos K` writes MP4s of its first K episodes
and a PNG of each one's path.

Each run folder (or checkpoint file) is evaluated with its own config.yaml and gets an eval.json; runs of
one method, base and data size are pooled across seeds; a run that fails is listed with the reason and the
others still run (exit status 1 when any failed). When runs of the `--compare` method (default sidetune)
are present, a second table gives it minus every other method at each data size with a paired seed x
episode bootstrap 95% interval (agents/evaluation/stats.py); runs evaluated on different episodes are an error (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.evaluation.eval_report import (
    COMPARED_METRICS,
    aggregate,
    compare_groups,
    evaluate_references,
    evaluate_runs,
    format_table,
)
from agents.evaluation.evaluate import check_checkpoint_policy, reference_config, run_checkpoint
from agents.evaluation.stats import format_comparisons
from agents.run.cli import parse_args as parse_intermixed
from agents.run.cli import read_run_config, run_main
from agents.run.run_config import CHECKPOINTS, DEVICES
from agents.run.run_dir import RunDir
from agents.trained_agents import agent_names, materialize
from common.atomic_io import atomic_write_text
from common.config import ConfigError, did_you_mean
from common.errors import BadInputError, UserError
from policies.methods import method_names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "runs", nargs="*", metavar="RUN_DIR", help="run folders, checkpoint files or shipped agents' names"
    )
    parser.add_argument(
        "--episodes-per-building", type=int, default=None, help="eval.episodes_per_building (default 10)"
    )
    parser.add_argument("--num-envs", type=int, default=None, help="eval.num_envs (batching only)")
    parser.add_argument(
        "--videos", type=int, default=None, help="MP4s per run of its first K episodes (in <run>/videos)"
    )
    parser.add_argument("--seed", type=int, default=None, help="eval.seed (action sampling)")
    parser.add_argument("--deterministic", action="store_true", default=None, help="argmax actions instead of sampling")
    parser.add_argument("--checkpoint", choices=CHECKPOINTS, default=None, help="which checkpoint of a run folder")
    parser.add_argument("--device", choices=DEVICES, default=None)
    parser.add_argument("--reference", action="store_true", help="add random, expert and goal-only rows")
    parser.add_argument(
        "--compare",
        default="sidetune",
        metavar="METHOD",
        help=(
            "method (or 'method base=NAME') compared with every other at each data size "
            "(paired bootstrap; default sidetune)"
        ),
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="key=value",
        help="config overrides for reference rows when no run could be evaluated (e.g. env.resolution=64)",
    )
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the table rows as JSON")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--no-progress", action="store_true", help="no per-episode progress bar")
    return parse_intermixed(parser, argv)


def check_compare(compare: str) -> None:
    """A ConfigError for a --compare that names no method (a typo would silently drop the comparison)."""
    words = compare.split()
    known = [*method_names(), "blind"]
    if not words or words[0] not in known or any(not w.startswith("base=") for w in words[1:]):
        name = words[0] if words else compare
        raise ConfigError(
            "--compare",
            f"{compare!r} is not a method",
            f"{did_you_mean(name, known)}use 'METHOD' or 'METHOD base=NAME'",
        )


def shipped_agent_run(run: str) -> str:
    """``run`` itself, or, when no such path exists and it names a shipped agent, that agent's run folder."""
    if Path(run).exists() or "/" in run:
        return run
    names = agent_names()
    if run not in names:
        hint = did_you_mean(run, names)
        if hint:  # a misspelt agent; anything else is a missing run folder, reported in its row
            raise BadInputError(
                "RUN_DIR", f"{run!r} is neither a path nor a shipped agent", f"{hint}see docs/trained_agents.md"
            )
        return run
    folder = materialize(run)
    print(f"shipped agent {run}: {folder}", file=sys.stderr, flush=True)
    return str(folder)


def main(argv: list[str] | None = None) -> int:
    """Evaluate, print the table, return 1 if any run failed."""
    args = parse_args(argv)
    if not args.runs and not args.reference:
        raise BadInputError("RUN_DIR: nothing to evaluate (pass run folders and/or --reference)")
    check_compare(args.compare)
    args.runs = [shipped_agent_run(run) for run in args.runs]
    reference = reference_config(args.set)  # bad --set and flag values fail here, before any evaluation
    reference.eval.replace(
        episodes_per_building=args.episodes_per_building, num_envs=args.num_envs, videos=args.videos, seed=args.seed
    )
    for run in args.runs:  # a checkpoint of another network is refused before anything is evaluated
        try:
            checkpoint, cfg = run_checkpoint(run, args.checkpoint)
        except UserError:
            continue  # a missing or damaged run is a FAILED row below, beside the others
        check_checkpoint_policy(checkpoint, cfg)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731 - progress lines, table on stdout
    shared = {
        "episodes_per_building": args.episodes_per_building,
        "num_envs": args.num_envs,
        "seed": args.seed,
        "deterministic": args.deterministic,
        "progress": not args.no_progress,
    }
    entries = evaluate_runs(
        args.runs, log=log, videos=args.videos, checkpoint=args.checkpoint, device=args.device, **shared
    )
    if args.reference:
        configs = [read_run_config(RunDir.open(e["result"]["run_dir"])) for e in entries if e["status"] == "ok"]
        if not configs:
            configs = [reference]
        entries = evaluate_references(configs, log=log, **shared) + entries
    rows = aggregate(entries)
    print(format_table(rows, markdown=args.markdown))
    comparisons = {m: compare_groups(entries, args.compare, m) for m in COMPARED_METRICS}  # PairingError: exit 2
    if comparisons["success"]:
        for metric in ("success", "spl"):
            print(
                f"\n{args.compare} minus each other method ({metric}; paired seed x episode bootstrap, 95% interval):"
            )
            print(format_comparisons(comparisons[metric], metric, markdown=args.markdown))
    if args.json:
        summaries = [
            {k: v for k, v in e.items() if k != "result"}
            | ({"eval": {k: v for k, v in e["result"].items() if k != "per_episode"}} if "result" in e else {})
            for e in entries
        ]
        compared = {m: [c.to_dict() for c in cs] for m, cs in comparisons.items()}
        atomic_write_text(
            Path(args.json),
            json.dumps({"rows": rows, "runs": summaries, "comparisons": compared}, indent=2, default=str),
        )
        log(f"table written to {args.json}")
    return 1 if any(e["status"] != "ok" for e in entries) else 0


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2; a failed run exits 1."""
    status: list[int] = []
    run_main(lambda: status.append(main()))
    sys.exit(status[0] if status else 0)
