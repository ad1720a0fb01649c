"""Time one held-out evaluation of the same policy on the same episodes, embedded backend then Habitat backend.

    python scripts/habitat_eval_benchmark.py EXPORT [--run RUN_DIR] [--config configs/ppo.yaml]
        [--episodes-per-building 30] [--json OUT.json]

EXPORT is scripts/export_habitat_scenes.py's output for the same config (its held-out set is the embedded one,
exported). The policy is RUN_DIR's checkpoint, else a fresh (untrained) policy of the config with seed 0: the
evaluator's cost per frame is the same, and an untrained policy runs more frames. Both evaluations go through
agents.evaluation.evaluate.evaluate_policy with the config's eval: section; the script checks that both ran the
same episode ids and prints seconds, frames, the Habitat/embedded ratio and the load average (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.run.cli import run_main
from common.errors import BadInputError


def _policy(cfg, run: str | None):
    """The run's checkpoint, or an untrained model of ``cfg`` built on a one-env embedded vec env."""
    from agents.run.env_builder import make_vec_env
    from agents.run.model_builder import build_model, find_checkpoint, load_model

    if run:
        return load_model(find_checkpoint(run, cfg.eval.checkpoint), device="cpu")
    venv = make_vec_env(cfg, 1, "heldout", 0, sampling="sequential")
    try:
        return build_model(cfg, venv, device="cpu")
    finally:
        venv.close()


def main(argv: list[str] | None = None) -> None:
    """Evaluate on both backends, print one JSON summary."""
    from agents.evaluation.evaluate import evaluate_policy
    from agents.run.config_loader import load_run_config
    from envs.episodes import scene_name
    from envs.habitat.episodes import check_habitat_data
    from envs.habitat.scene_export import EPISODES_SUBDIR, SCENES_SUBDIR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="scripts/export_habitat_scenes.py's output folder")
    parser.add_argument("--run", default=None, help="a run folder (default: an untrained policy of --config)")
    parser.add_argument("--config", default=None, help="preset or file over the ppo preset: the untrained policy")
    parser.add_argument("--episodes-per-building", type=int, default=None, help="eval.episodes_per_building")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.run:
        from agents.run.cli import read_run_config
        from agents.run.run_dir import RunDir

        cfg = read_run_config(RunDir.open(args.run))
    else:
        cfg = load_run_config("ppo", args.config)
    habitat_env = dataclasses.replace(
        cfg.env,
        backend="habitat",
        habitat_data_path=str(args.export / EPISODES_SUBDIR),
        habitat_scenes_dir=str(args.export / SCENES_SUBDIR),
    )
    check_habitat_data(habitat_env)
    policy = _policy(cfg, args.run)
    overrides = {} if args.episodes_per_building is None else {"episodes_per_building": args.episodes_per_building}
    results, load = {}, {"before": os.getloadavg()}
    for name, env in (("embedded", cfg.env), ("habitat", habitat_env)):
        started = time.perf_counter()
        result = evaluate_policy(policy, dataclasses.replace(cfg, env=env), progress=False, **overrides)
        results[name] = {
            "seconds": time.perf_counter() - started,
            "episodes": result["episodes"],
            "env_steps": result["env_steps"],
            "success": result["success"]["mean"],
            "ids": [(scene_name(r["building"]), r["episode_id"]) for r in result["per_episode"]],
        }
        load[f"after_{name}"] = os.getloadavg()
        print(
            f"{name}: {result['episodes']} episodes, {result['env_steps']} frames, {results[name]['seconds']:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    if results["embedded"]["ids"] != results["habitat"]["ids"]:
        raise BadInputError(
            "EXPORT", "its held-out episodes are not the config's", "export it with --config of this run"
        )
    summary = {name: {k: v for k, v in r.items() if k != "ids"} for name, r in results.items()}
    summary["ratio"] = results["habitat"]["seconds"] / results["embedded"]["seconds"]
    summary["load_average"] = load
    summary["cpus"] = os.cpu_count()
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run_main(main)
