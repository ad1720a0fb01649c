"""Report an experiment folder from its runs' stored held-out evaluations (nothing is re-trained or re-evaluated).

    python scripts/report.py runs/imitation              # report.md, report.json, plots/fig3c.png, plots/alpha.png
    python scripts/report.py runs/imitation --reference  # also evaluate random / expert / goal-only once (kept)
    python scripts/report.py runs/imitation_alpha --with runs/imitation   # an ablation against the grid's runs
    python scripts/report.py runs/imitation --exclude '*-4900-seed[3-8]'  # without the runs that joined later
    python scripts/report.py runs/imitation --exclude '*-4900' '*-4900-seed[12]' --out runs/imitation_4900_new_seeds
                                                          # a second report of a subset, in its own folder
    python scripts/report.py runs/ppo_1m --at 300000 --out runs/ppo_1m/at_300k   # PPO runs at a shorter horizon

The paired comparisons (sidetune minus each other method; features with a pretrained base minus features on a
random base and minus blind) are agents/evaluation/stats.py's seeds-then-episodes bootstrap (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import sys

from agents.evaluation.experiment_report import CLAIM_METHOD, build_report
from agents.run.cli import run_main
from common.errors import BadInputError
from policies.methods import method_names


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the report, print what was written."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", metavar="EXPERIMENT_DIR", help="experiment folders, e.g. runs/imitation")
    parser.add_argument(
        "--reference", action="store_true", help="evaluate the random, expert and goal-only rows once (references.json)"
    )
    parser.add_argument(
        "--with",
        dest="partners",
        nargs="+",
        action="extend",  # `--with a b` and `--with a --with b` (the form report.md's command is written in) agree
        default=[],
        metavar="DIR",
        help="other experiment folders whose runs join the comparisons (e.g. an ablation against runs/imitation)",
    )
    parser.add_argument(
        "--target",
        default=CLAIM_METHOD,
        choices=list(method_names()),
        help="the method whose claim is tested against every other (default: the paper's sidetune)",
    )
    parser.add_argument(
        "--exclude",
        nargs="+",
        action="extend",
        default=[],
        metavar="GLOB",
        help="leave out run folders whose name matches (e.g. '*-4900-seed[3-8]': seeds that joined later)",
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="write report.md, report.json and plots/ here instead of into the experiment folder (a second report "
        "of the same runs, e.g. with --exclude; one experiment folder only)",
    )
    parser.add_argument(
        "--at",
        type=int,
        default=None,
        metavar="FRAMES",
        help="report each PPO run's evaluation at this many frames (its train.milestones), with --out",
    )
    args = parser.parse_args(argv)
    if args.at is not None and args.out is None:
        raise BadInputError("--at: write the report of a horizon into its own folder (add --out DIR)")
    if args.out is not None and len(args.folders) > 1:
        raise BadInputError("--out: one report folder for several experiment folders (report them one at a time)")
    for folder in args.folders:
        out = build_report(
            folder,
            reference=args.reference,
            log=lambda line: print(line, file=sys.stderr, flush=True),
            partners=args.partners,
            target=args.target,
            exclude=args.exclude,
            out=args.out,
            at=args.at,
        )
        for path in out["written"]:
            print(f"wrote {path}")
    return 0


def cli() -> None:
    """Console entry point: a missing or empty folder is one error line and exit code 2."""
    run_main(main)
