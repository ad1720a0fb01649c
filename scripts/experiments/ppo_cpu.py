"""Experiment: does PPO with side-tuning learn on the CPU preset? (docs/experiments.md)

1. Reference rows on the held-out evaluation set (the eval section: first 10 episodes of each of the 14
   held-out buildings, sampled actions): a uniform random policy, and the run's own policy at 0 frames
   (the same seeded initial weights the run starts from).
2. PPO training with configs/ppo.yaml (side-tuning, curvature base unless overridden), capped by
   ``--minutes`` of wall time; periodic held-out evaluation on 3 episodes per building -> eval_history.json.
3. The final policy on the same held-out episodes as step 1 (eval.episodes_per_building per building)
   -> results.json; a summary (JSON and a markdown table) in the run folder: ``experiment_summary.json``
   and ``experiment_summary.md``.

Run it in the background on a shared CPU:
    nice -n 5 nohup .venv/bin/python scripts/experiments/ppo_cpu.py --minutes 28 > runs/ppo_cpu.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agents.evaluation.evaluate import evaluate_policy  # noqa: E402
from agents.run.cli import base_parser, resolve_config  # noqa: E402
from agents.run.env_builder import make_vec_env  # noqa: E402
from agents.run.model_builder import build_model  # noqa: E402
from agents.trainers.ppo import run_ppo  # noqa: E402
from common.atomic_io import atomic_write_text  # noqa: E402


def _row(name: str, result: dict) -> dict:
    """Mean and 95% interval of success, SPL and reward of one evaluation."""
    out = {"policy": name, "episodes": result["episodes"]}
    for key in ("success", "spl", "reward", "distance_to_goal"):
        out[key] = result[key]["mean"]
        out[f"{key}_ci95"] = result[key]["ci95"]
    return out


def _fmt(row: dict, key: str) -> str:
    lo, hi = row[f"{key}_ci95"]
    return f"{row[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=28.0, help="wall-clock cap of the training part")
    parser.add_argument("--frames", type=int, default=300_000, help="ppo.total_frames (the cap usually ends it first)")
    parser.add_argument("--base", default="curvature")
    parser.add_argument("overrides", nargs="*", help="config key=value overrides")
    args = parser.parse_args()
    started = time.time()
    cli = base_parser("ppo_cpu").parse_args(
        [
            f"policy.base={args.base}",
            f"ppo.total_frames={args.frames}",
            f"train.max_minutes={args.minutes}",
            "run.experiment=ppo_cpu_experiment",
            "train.progress_bar=false",
            *args.overrides,
        ]
    )
    cfg = resolve_config(cli, "ppo")
    s = cfg.eval.replace(videos=0)
    common = dict(settings=s, progress=False)

    t = time.time()
    random_row = _row("random", evaluate_policy("random", cfg, **common))
    print(f"random policy: {random_row} ({time.time() - t:.0f} s)", flush=True)
    t = time.time()
    venv = make_vec_env(cfg, int(cfg.train.num_envs), "train", int(cfg.run.seed))
    untrained = build_model(cfg, venv, device=str(cfg.run.device))  # seeded: the run's own initial weights
    zero_row = _row("ppo, 0 frames", evaluate_policy(untrained, cfg, **common))
    venv.close()
    print(f"untrained policy: {zero_row} ({time.time() - t:.0f} s)", flush=True)

    t = time.time()
    run, results = run_ppo(cfg, progress=False)
    train_wall = time.time() - t
    final_row = _row(f"ppo, {results.frames} frames", results.evaluation)
    history = json.loads((run.root / "eval_history.json").read_text())
    summary = {
        "config": {
            "method": cfg.policy.method,
            "base": cfg.policy.base,
            "resolution": cfg.env.resolution,
            "num_envs": cfg.train.num_envs,
            "auto_stop": cfg.env.auto_stop,
        },
        "rows": [random_row, zero_row, final_row],
        "curve": [{k: row[k] for k in ("frames", "success", "spl", "reward", "episodes")} for row in history],
        "frames": results.frames,
        "frames_per_second": results.training["frames_per_second"],
        "train_wall_seconds": round(train_wall, 1),
        "total_wall_seconds": round(time.time() - started, 1),
        "eval_seconds_during_training": results.training["eval_seconds_this_session"],
        "alphas": results.alphas,
        "stopped_by_time_limit": results.training["stopped_by_time_limit"],
        "run_dir": str(run.root),
    }
    atomic_write_text(run.root / "experiment_summary.json", json.dumps(summary, indent=2, default=float))
    lines = [
        f"Held-out, {final_row['episodes']} episodes (first {s.episodes_per_building} of each held-out building), "
        "sampled actions:",
        "",
        "| policy | success [95% CI] | SPL [95% CI] | episode reward [95% CI] |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['policy']} | {_fmt(r, 'success')} | {_fmt(r, 'spl')} | {_fmt(r, 'reward')} |" for r in summary["rows"]
    ]
    lines += [
        "",
        "Curve (periodic evaluation, first 3 episodes of each held-out building = 42 episodes):",
        "",
        "| frames | success | SPL | reward |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['frames']:,} | {r['success']:.3f} | {r['spl']:.3f} | {r['reward']:.2f} |" for r in history]
    lines += [
        "",
        f"Training: {results.frames:,} frames in {train_wall / 60:.1f} min wall "
        f"({results.training['frames_per_second']} frames/s excluding evaluation; "
        f"evaluation {results.training['eval_seconds_this_session']:.0f} s); "
        f"whole experiment {summary['total_wall_seconds'] / 60:.1f} min; final alpha {results.alphas}.",
    ]
    atomic_write_text(run.root / "experiment_summary.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"run folder: {run.root}")


if __name__ == "__main__":
    main()
