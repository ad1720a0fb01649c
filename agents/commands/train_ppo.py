"""Train a PointNav agent with PPO: ``python scripts/train_ppo.py --base curvature`` (see docs/ppo.md)."""

from __future__ import annotations

import argparse
import json

from agents.run.cli import (
    add_policy_flags,
    base_parser,
    parse_args,
    print_config,
    resolve_config,
    resume_folder,
    run_main,
)
from agents.run.run_dir import RunDir

FLAGS = {
    "base": "policy.base",
    "method": "policy.method",
    "merge": "policy.merge",
    "backend": "env.backend",
    "num_envs": "train.num_envs",
    "frames": "ppo.total_frames",
    "init_from": "train.init_from",
}


def build_parser() -> argparse.ArgumentParser:
    """The command line of train_ppo.py."""
    parser = base_parser(__doc__)
    add_policy_flags(parser)
    parser.add_argument("--num-envs", dest="num_envs", type=int, default=None, help="train.num_envs")
    parser.add_argument("--frames", type=int, default=None, help="ppo.total_frames")
    parser.add_argument(
        "--init-from",
        dest="init_from",
        default=None,
        metavar="RUN_DIR",
        help="start from another run's policy (e.g. BC)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main() -> None:
    """Parse flags, resolve the config (a resumed run's own config.yaml is the layer under the flags), train."""
    args = parse_args(build_parser())
    if args.resume:
        args.resume = resume_folder(args.resume, "ppo")
    if args.resume and args.config is None:
        args.config = str(RunDir.open(args.resume).config_path)  # the run's config, so --resume alone suffices
    cfg = resolve_config(args, "ppo", FLAGS)
    if args.print_config:
        print_config(cfg)
        return
    from agents.trainers.ppo import run_ppo

    run, results = run_ppo(cfg, resume=args.resume, progress=False if args.no_progress else None)
    print(json.dumps(results.summary()))
    print(f"run folder: {run.root}")


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main, terminate_like_interrupt=True)
