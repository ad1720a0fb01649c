"""Make (or extend) the fixed pool of expert trajectories for BC:
``python scripts/make_trajectories.py --trajectories 4900``.

The pool's env settings come from configs/bc.yaml plus ``--config`` and ``key=value`` overrides (e.g.
``env.resolution=64``); BC runs must use the same settings. Extending a pool keeps every earlier trajectory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from agents.run.cli import add_habitat_flags, base_parser, parse_args, print_config, resolve_config, run_main
from envs.backends import backend_names

FLAGS = {
    "trajectories": "bc.trajectories",
    "pool_dir": "bc.pool_dir",
    "backend": "env.backend",
    "storage": "bc.storage",
    "num_envs": "bc.generate_envs",
    "shard_size": "bc.shard_size",
}


def main() -> None:
    """Generate the pool and print its folder, size on disk and bytes per trajectory."""
    parser = base_parser(__doc__)
    parser.add_argument("--trajectories", type=int, default=None, help="pool size to reach (bc.trajectories)")
    parser.add_argument(
        "--pool-dir", dest="pool_dir", default=None, help="bc.pool_dir (default: data/trajectories/...)"
    )
    parser.add_argument("--backend", default=None, choices=list(backend_names()), help="env.backend")
    add_habitat_flags(parser)
    parser.add_argument("--storage", default=None, choices=["poses", "frames"], help="bc.storage")
    parser.add_argument("--num-envs", dest="num_envs", type=int, default=None, help="bc.generate_envs")
    parser.add_argument("--shard-size", dest="shard_size", type=int, default=None, help="bc.shard_size")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parse_args(parser)
    if args.seed is not None:  # --seed picks the pool seed here (the run seed does not matter for a pool)
        args.overrides.append(f"bc.pool_seed={args.seed}")
        args.seed = None
    cfg = resolve_config(args, "bc", FLAGS)
    if args.print_config:
        print_config(cfg)
        return
    from agents.trainers.bc import open_pool, pool_dir_of

    env_cfg = cfg.env
    n = cfg.bc.trajectories
    started = time.perf_counter()
    pool = open_pool(cfg.bc, env_cfg, n, generate=True, progress=not args.no_progress)
    files = [p for p in Path(pool.root).iterdir() if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    data = pool.load(pool.num_trajectories, auto_stop=False)
    print(
        json.dumps(
            {
                "pool": str(pool_dir_of(cfg.bc, env_cfg)),
                "trajectories": pool.num_trajectories,
                "steps": data.num_steps,
                "mean_steps": data.num_steps / pool.num_trajectories,
                "expert_failures": pool.manifest["expert_failures"],
                "bytes": size,
                "bytes_per_trajectory": size / pool.num_trajectories,
                "seconds": time.perf_counter() - started,
            },
            indent=1,
        )
    )


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main)
