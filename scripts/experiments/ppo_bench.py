"""End-to-end PPO training frames/s per method and resolution on this machine (docs/benchmarks.md (PPO section)).

For each (resolution, method): build the CPU preset's env and model (configs/ppo.yaml, a random base of
the compact architecture: weights do not change the cost), run one warm-up iteration, then time
``model.learn`` over ``--iterations`` rollout+update iterations, split into env stepping, policy forward
during the rollout, and the PPO update. No evaluation or checkpoints (they are excluded from the
trainer's own frames/s too).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/experiments/ppo_bench.py
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/experiments/ppo_bench.py \\
        --resolutions 128 --methods sidetune --profile
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from agents.run.cli import base_parser, resolve_config  # noqa: E402
from agents.run.env_builder import make_vec_env  # noqa: E402
from agents.run.model_builder import build_model  # noqa: E402
from policies.methods import method_names  # noqa: E402


def measure(resolution: int, method: str, iterations: int, overrides: list[str], profile: bool) -> dict[str, float]:
    """Frames/s of PPO training (rollout + update) and the share of env, policy forward and update."""
    args = base_parser("bench").parse_args(
        [f"env.resolution={resolution}", f"policy.method={method}", "policy.base=random", "run.device=cpu", *overrides]
    )
    cfg = resolve_config(args, "ppo")
    venv = make_vec_env(cfg, int(cfg.train.num_envs), "train", 0)
    model = build_model(cfg, venv, device="cpu")
    times = {"env": 0.0, "rollout": 0.0, "update": 0.0}
    step, collect, train = venv.step, model.collect_rollouts, model.train

    def timed(key, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[key] += time.perf_counter() - t

        return wrapper

    venv.step = timed("env", step)
    model.collect_rollouts = timed("rollout", collect)
    model.train = timed("update", train)
    rollout = int(cfg.ppo.n_steps) * venv.num_envs
    model.learn(rollout)  # warm-up: first-use costs (numba, allocator, episode caches)
    for key in times:
        times[key] = 0.0
    frames = rollout * iterations
    started = time.perf_counter()
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            model.learn(frames, reset_num_timesteps=False)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    else:
        model.learn(frames, reset_num_timesteps=False)
    wall = time.perf_counter() - started
    venv.close()
    return {
        "fps": frames / wall,
        "wall": wall,
        "frames": frames,
        "env": times["env"] / wall,
        "forward": (times["rollout"] - times["env"]) / wall,
        "update": times["update"] / wall,
        "rollout_fps": frames / times["rollout"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--methods", nargs="+", default=list(method_names()), choices=list(method_names()))
    parser.add_argument("--iterations", type=int, default=2, help="timed rollout+update iterations (1024 frames each)")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top operators")
    parser.add_argument("overrides", nargs="*", help="config key=value overrides (e.g. ppo.n_epochs=4)")
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}; overrides {args.overrides}")
    print("| res | method | frames/s | rollout-only frames/s | env | policy forward | PPO update | frames timed |")
    print("|---|---|---|---|---|---|---|---|")
    for resolution in args.resolutions:
        for method in args.methods:
            r = measure(resolution, method, args.iterations, args.overrides, args.profile)
            print(
                f"| {resolution} | {method} | {r['fps']:,.0f} | {r['rollout_fps']:,.0f} | {r['env']:.0%} | "
                f"{r['forward']:.0%} | {r['update']:.0%} | {r['frames']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
