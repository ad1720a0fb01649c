"""Cross-check the Habitat backend against the embedded one on the same buildings and episodes.

Usage: python scripts/habitat_crosscheck.py EXPORT [--train-per-building K] [--num-envs N] [--json FILE]
           [--runs RUN ...] [--habitat-lab FILE] [--skip geodesic expert]
EXPORT is the folder written by scripts/export_habitat_scenes.py. Prints (Markdown, for docs/habitat.md):
1. geodesic distances of every held-out episode and K episodes per training building: habitat's navmesh
   (pathfinder.find_path with ShortestPath) vs the embedded grid's, as relative differences;
2. the held-out episode set evaluated with the expert on both backends (habitat's GreedyGeodesicFollower vs
   the embedded grid expert), through the same evaluator, and per-episode agreement;
3. with --runs: sim-to-sim, each run (trained on the embedded backend) evaluated on both backends with its own
   config and episodes (export them with `export_habitat_scenes.py EXPORT --config RUN/config.yaml`);
4. with --habitat-lab: habitat-lab's own PointNav measures (scripts/habitat_lab_check.py's JSON) against the
   toolkit's Habitat task replaying the same actions on the same episodes.
5. with --bench: env-steps/s of the task (step + render + observations, one agent, random moves) on one
   held-out building, embedded vs Habitat, at 64² and 128², timed alternately in this process.
Needs habitat-sim; slow (minutes): a script, not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from agents.evaluation.eval_report import aggregate, format_table
from agents.evaluation.evaluate import evaluate_policy, reference_config
from agents.evaluation.metrics import run_summary
from agents.run.cli import read_run_config
from agents.run.model_builder import find_checkpoint, load_model
from agents.run.run_dir import RunDir
from envs.config import EnvConfig
from envs.habitat.availability import BackendUnavailableError, require_habitat_sim
from envs.habitat.episodes import load_habitat_episodes, scene_name
from envs.habitat.scene_export import EPISODES_SUBDIR, SCENES_SUBDIR


def habitat_overrides(export: Path) -> list[str]:
    """Config overrides that put a run config on the exported buildings (Habitat backend)."""
    return [
        "env.backend=habitat",
        f"env.habitat_data_path={export / EPISODES_SUBDIR}",
        f"env.habitat_scenes_dir={export / SCENES_SUBDIR}",
    ]


def geodesic_rows(config: EnvConfig, split: str, per_building: int | None) -> list[dict]:
    """Per episode: the embedded geodesic (stored in the episode) and habitat's navmesh geodesic."""
    from envs.habitat.backend import HabitatBackend

    episodes = load_habitat_episodes(config, split)
    chosen, taken = [], {}
    for ep in episodes:
        name = scene_name(ep.scene_id)
        if per_building is None or taken.get(name, 0) < per_building:
            taken[name] = taken.get(name, 0) + 1
            chosen.append(ep)
    backend = HabitatBackend(config, num_envs=1)
    rows = []
    try:
        for ep in chosen:
            backend.reset(np.array([0]), [ep])
            habitat = float(backend.geodesic_distance()[0])
            euclid = float(np.linalg.norm(np.subtract(ep.start_xy, ep.goal_xy)))
            rows.append(
                {
                    "split": split,
                    "building": scene_name(ep.scene_id),
                    "episode_id": ep.episode_id,
                    "embedded": ep.geodesic_distance,
                    "habitat": habitat,
                    "euclidean": euclid,
                }
            )
    finally:
        backend.close()
    return rows


def geodesic_table(rows: list[dict]) -> str:
    """Markdown: the distribution of (habitat - embedded) / embedded per split and overall."""
    lines = [
        "| episodes | unreachable on navmesh | median | mean | 5th pct | 95th pct | min | max | abs > 5% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, subset in (
        ("train sample", [r for r in rows if r["split"] == "train"]),
        ("held-out (val)", [r for r in rows if r["split"] == "val"]),
        ("all", rows),
    ):
        if not subset:
            continue
        finite = [r for r in subset if np.isfinite(r["habitat"])]
        rel = np.array([(r["habitat"] - r["embedded"]) / r["embedded"] for r in finite])
        lines.append(
            f"| {label}: {len(subset)} | {len(subset) - len(finite)} | {np.median(rel):+.3f} | {rel.mean():+.3f} | "
            f"{np.percentile(rel, 5):+.3f} | {np.percentile(rel, 95):+.3f} | {rel.min():+.3f} | {rel.max():+.3f} | "
            f"{np.mean(np.abs(rel) > 0.05):.1%} |"
        )
    return "\n".join(lines)


def expert_rows(export: Path, num_envs: int, resolution: int) -> dict[str, dict]:
    """The expert on the held-out set through the evaluator, on each backend."""
    out = {}
    for backend, extra in (("embedded", []), ("habitat", habitat_overrides(export))):
        cfg = reference_config([f"env.resolution={resolution}", *extra])
        started = time.perf_counter()
        result = evaluate_policy(
            "expert", cfg, split="heldout", num_envs=num_envs, seed=0, deterministic=True, progress=False
        )
        result["wall_s"] = time.perf_counter() - started
        out[backend] = result
    return out


def expert_table(results: dict[str, dict]) -> str:
    """Markdown: success, SPL, final distance and steps per backend, and per-episode agreement."""
    lines = [
        "| backend | episodes | success | SPL | final distance m | mean steps | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        steps = np.mean([ep["steps"] for ep in r["per_episode"]])
        lines.append(
            f"| {name} | {r['episodes']} | {r['success']['mean']:.3f} | {r['spl']['mean']:.3f} | "
            f"{r['distance_to_goal']['mean']:.3f} | {steps:.1f} | {r['wall_s']:.0f} |"
        )
    a, b = results["embedded"]["per_episode"], results["habitat"]["per_episode"]
    same = sum(x["success"] == y["success"] for x, y in zip(a, b, strict=False))
    ratio = np.array([y["steps"] / max(x["steps"], 1) for x, y in zip(a, b, strict=False)])
    lines.append("")
    lines.append(
        f"Per episode: same success on {same}/{len(a)}; habitat/embedded expert steps: median {np.median(ratio):.2f}, "
        f"5th-95th pct {np.percentile(ratio, 5):.2f}-{np.percentile(ratio, 95):.2f}."
    )
    return "\n".join(lines)


def sim_to_sim(runs: list[Path], export: Path, num_envs: int) -> list[dict]:
    """Evaluator entries of each run on its own backend (embedded) and on the exported buildings (habitat)."""
    entries = []
    for path in runs:
        cfg = read_run_config(RunDir.open(path))
        model = load_model(find_checkpoint(path, prefer="best"), device="cpu")
        on_habitat = dataclasses.replace(
            cfg.env,
            backend="habitat",
            habitat_data_path=str(export / EPISODES_SUBDIR),
            habitat_scenes_dir=str(export / SCENES_SUBDIR),
        )
        for run_cfg in (cfg, dataclasses.replace(cfg, env=on_habitat)):
            started = time.perf_counter()
            result = evaluate_policy(model, run_cfg, split="heldout", num_envs=num_envs, progress=False)
            result.update(run_summary(cfg.to_dict()))
            result["wall_s"] = time.perf_counter() - started
            entries.append({"run": str(path), "status": "ok", "result": result, "config": cfg.to_dict()})
    return entries


def habitat_lab_rows(lab_json: Path, config: EnvConfig) -> list[dict]:
    """habitat-lab's measures per episode beside the toolkit's, replaying habitat-lab's expert actions."""
    from envs.factory import make_task

    lab = json.loads(lab_json.read_text())["episodes"]
    task = make_task(config, 1, split="heldout", seed=0, sampling="sequential")
    by_id = {ep.episode_id: ep for ep in task.episodes}
    rows = []
    try:
        for record in lab:
            task.episodes = [by_id[str(record["episode_id"])]]
            task.restart()
            task.reset()
            start = float(task.backend.geodesic_distance()[0])
            info = None
            for action in record["actions"]:
                step = task.step(np.array([action]), autoreset=False)
                if step.done[0]:
                    info = step.infos[0]
                    break
            rows.append(
                {
                    "episode_id": record["episode_id"],
                    "lab": record,
                    "ours": {
                        "start_distance": start,
                        "distance_to_goal": float(info["distance_to_goal"]) if info else math.nan,
                        "success": float(info["success"]) if info else math.nan,
                        "spl": float(info["spl"]) if info else math.nan,
                    },
                }
            )
    finally:
        task.close()
    return rows


def habitat_lab_table(rows: list[dict]) -> str:
    """Markdown: mean measures on both sides and the largest per-episode differences."""
    keys = ("start_distance", "distance_to_goal", "success", "spl")
    lines = [
        "| measure | habitat-lab | toolkit (habitat backend) | max abs per-episode difference "
        "| episodes that differ by > 0.01 |",
        "|---|---|---|---|---|",
    ]
    for key in keys:
        lab = np.array([r["lab"][key] for r in rows])
        ours = np.array([r["ours"][key] for r in rows])
        diff = np.abs(lab - ours)
        lines.append(
            f"| {key} | {lab.mean():.4f} | {ours.mean():.4f} | {np.nanmax(diff):.4f} "
            f"| {int(np.sum(diff > 0.01))} / {len(rows)} |"
        )
    return "\n".join(lines)


def bench(config: EnvConfig, building: str, seconds: float) -> str:
    """Markdown: env-steps/s of both backends on ``building`` at 64 and 128 px (best of 3 alternating rounds)."""
    from envs.factory import make_task

    lines = ["| resolution | embedded steps/s | habitat steps/s | embedded / habitat |", "|---|---|---|---|"]
    for res in (64, 128):
        tasks = {}
        for backend in ("embedded", "habitat"):
            cfg = dataclasses.replace(config, backend=backend, resolution=res, buildings=[building], split="heldout")
            tasks[backend] = make_task(cfg, 1, split="heldout", seed=0)
            tasks[backend].reset()
        rng = np.random.default_rng(0)
        best = {name: 0.0 for name in tasks}
        try:
            for _ in range(3):
                for name, task in tasks.items():
                    steps, started = 0, time.perf_counter()
                    while time.perf_counter() - started < seconds:
                        task.step(rng.integers(1, 4, size=1))
                        steps += 1
                    best[name] = max(best[name], steps / (time.perf_counter() - started))
        finally:
            for task in reversed(list(tasks.values())):
                task.close()
        lines.append(
            f"| {res} | {best['embedded']:.0f} | {best['habitat']:.0f} | {best['embedded'] / best['habitat']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="folder written by scripts/export_habitat_scenes.py")
    parser.add_argument(
        "--train-per-building", type=int, default=5, help="training episodes per building for the geodesic check"
    )
    parser.add_argument(
        "--num-envs", type=int, default=2, help="agents (one habitat-sim simulator each) for the expert runs"
    )
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write every row as JSON")
    parser.add_argument("--runs", nargs="+", type=Path, default=[], help="run folders to evaluate on both backends")
    parser.add_argument("--habitat-lab", dest="habitat_lab", type=Path, help="JSON of scripts/habitat_lab_check.py")
    parser.add_argument("--bench", action="store_true", help="time both backends on one held-out building")
    parser.add_argument("--skip", nargs="+", choices=["geodesic", "expert"], default=[], help="sections not to run")
    args = parser.parse_args(argv)
    if not (args.export / EPISODES_SUBDIR).is_dir():
        print(
            f"error: export: {args.export / EPISODES_SUBDIR} does not exist "
            f"(run scripts/export_habitat_scenes.py {args.export})",
            file=sys.stderr,
        )
        return 2
    try:
        require_habitat_sim()
    except BackendUnavailableError as err:
        print(f"error: habitat-sim: {err}", file=sys.stderr)
        return 2
    config = EnvConfig(
        backend="habitat",
        resolution=args.resolution,
        habitat_data_path=str(args.export / EPISODES_SUBDIR),
        habitat_scenes_dir=str(args.export / SCENES_SUBDIR),
    )
    payload: dict = {}
    if "geodesic" not in args.skip:
        started = time.perf_counter()
        rows = payload["geodesic"] = geodesic_rows(config, "val", None) + geodesic_rows(
            config, "train", args.train_per_building
        )
        print(f"## Geodesic distance: habitat navmesh vs embedded grid ({time.perf_counter() - started:.0f} s)\n")
        print(geodesic_table(rows))
        worst = sorted(
            (r for r in rows if np.isfinite(r["habitat"])),
            key=lambda r: -abs(r["habitat"] - r["embedded"]) / r["embedded"],
        )[:5]
        print(
            "\nLargest relative differences: "
            + "; ".join(
                f"{r['building']} #{r['episode_id']} {r['embedded']:.2f} m vs {r['habitat']:.2f} m" for r in worst
            )
        )
    if "expert" not in args.skip:
        results = payload["expert"] = expert_rows(args.export, args.num_envs, args.resolution)
        print("\n## The held-out episode set, expert on both backends\n")
        print(expert_table(results))
    if args.runs:
        entries = sim_to_sim(args.runs, args.export, args.num_envs)
        payload["sim_to_sim"] = [{k: v for k, v in e["result"].items() if k != "per_episode"} for e in entries]
        print("\n## Sim-to-sim: trained on the embedded backend, evaluated on both\n")
        print(format_table(aggregate(entries), markdown=True))
        print("\nwall s: " + ", ".join(f"{e['result']['backend']} {e['result']['wall_s']:.0f}" for e in entries))
    if args.habitat_lab:
        lab_rows = payload["habitat_lab"] = habitat_lab_rows(args.habitat_lab, config)
        print(
            f"\n## habitat-lab's PointNav measures vs the toolkit's, same episodes and actions "
            f"({len(lab_rows)} episodes)\n"
        )
        print(habitat_lab_table(lab_rows))
    if args.bench:
        building = scene_name(load_habitat_episodes(config, "val")[0].scene_id)
        print(f"\n## Env-steps/s on {building}: embedded vs Habitat (1 agent, random moves)\n")
        print(bench(config, building, seconds=3.0))
    if args.json:
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
