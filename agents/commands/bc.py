"""Behaviour cloning of the shortest-path expert: ``python scripts/bc.py --trajectories 4900`` (see docs/bc.md)."""

from __future__ import annotations

import json

from agents.run.cli import (
    add_policy_flags,
    base_parser,
    open_run,
    parse_args,
    print_config,
    resolve_config,
    resume_folder,
    run_main,
)
from agents.run.run_dir import RunDir

FLAGS = {
    "trajectories": "bc.trajectories",
    "method": "policy.method",
    "base": "policy.base",
    "merge": "policy.merge",
    "epochs": "bc.epochs",
    "backend": "env.backend",
    "pool_dir": "bc.pool_dir",
    "generate": "bc.generate",
}


def main() -> None:
    """Parse flags, resolve the config (a resumed run's own config.yaml under the flags), train, evaluate."""
    parser = base_parser(__doc__)
    parser.add_argument("--trajectories", type=int, default=None, help="bc.trajectories: the first N of the pool")
    add_policy_flags(parser)
    parser.add_argument("--epochs", type=int, default=None, help="bc.epochs (default: from bc.epochs_schedule)")
    parser.add_argument("--pool-dir", dest="pool_dir", default=None, help="bc.pool_dir")
    parser.add_argument(
        "--no-generate",
        dest="generate",
        action="store_const",
        const=False,
        default=None,
        help="fail (bc.generate=false) instead of making or extending a too-small pool",
    )
    parser.add_argument(
        "--benchmark-cache",
        action="store_true",
        help="time one epoch without and with the feature cache; no run folder",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parse_args(parser)
    if args.resume:
        args.resume = resume_folder(args.resume, "bc")
    if args.resume and args.config is None:
        args.config = str(RunDir.open(args.resume).config_path)
    cfg = resolve_config(args, "bc", FLAGS)
    if args.print_config:
        print_config(cfg)
        return
    from agents.trainers.bc import benchmark_cache, check_pool, train_bc
    from agents.trainers.distributed import context

    dist = context()  # under torchrun: data-parallel over the ranks (docs/scaling.md); else a world of one
    if args.benchmark_cache:
        print(json.dumps(benchmark_cache(cfg, progress=not args.no_progress), indent=1))
        return
    if not args.resume:
        with dist.main_first():
            check_pool(cfg, progress=not args.no_progress)  # bad data fails before a run folder exists
    run, cfg, resumed = dist.run_on_main(open_run, cfg, args.resume)
    print(f"run folder: {run.root}", flush=True)
    results = train_bc(cfg, run, resumed=resumed, progress=not args.no_progress)
    print(json.dumps(results.summary()))
    print(f"run folder: {run.root}")


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main, terminate_like_interrupt=True)
