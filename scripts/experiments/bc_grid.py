"""The BC grid of the paper's Fig. 3c on the CPU preset: methods x trajectory counts, one seed.

    nohup nice -n 5 .venv/bin/python scripts/experiments/bc_grid.py --trajectories 49 490 4900 > runs/bc_grid.log 2>&1 &

Runs ``scripts/bc.py`` once per (trajectories, method) in order (smaller data first, so whatever finishes is a
complete column), each as its own process in ``runs/<experiment>/<method>-<N>``; a run folder that already has
results.json is skipped, so the script can be restarted. ``--deadline HH:MM`` (UTC) starts no run after that
time. Writes ``runs/<experiment>/grid.json`` (per run: success/SPL with 95% CIs, α, epochs, wall time) and a
Markdown table (``grid.md``); ``scripts/plot_results.py runs/<experiment>`` draws the figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("features", "finetune", "scratch", "sidetune")


def table(rows: list[dict]) -> str:
    """Markdown table of finished runs: success and SPL (mean [95% CI]), α, epochs, wall time."""
    out = ["| N | method | seed | success [95% CI] | SPL [95% CI] | α | epochs (best) | val acc | wall (min) |",
           "|---:|---|---:|---|---|---:|---|---:|---:|"]  # fmt: skip
    for r in rows:
        if "error" in r:
            out.append(f"| {r['trajectories']} | {r['method']} | {r['seed']} | failed: {r['error']} | | | | | {r['wall_seconds'] / 60:.1f} |")
            continue
        s, p = r["success"], r["spl"]
        alpha = f"{r['alpha']:.3f}" if r.get("alpha") is not None else "—"
        out.append(
            f"| {r['trajectories']} | {r['method']} | {r['seed']} | {s['mean']:.3f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}] | "
            f"{p['mean']:.3f} [{p['ci95'][0]:.2f}, {p['ci95'][1]:.2f}] | {alpha} | {r['epochs_run']} ({r['best_epoch']}) | "
            f"{r['val_accuracy']:.3f} | {r['wall_seconds'] / 60:.1f} |"
        )
    return "\n".join(out) + "\n"


def main() -> int:
    """Run the grid, collecting results after every run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, nargs="+", default=[49, 490, 4900])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--experiment", default="bc_grid")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="run.seed values (folders of seed s > 0 end in -seed<s>)")
    parser.add_argument("--deadline", default=None, help="HH:MM UTC; no run starts after it")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every run (e.g. bc.threads=2)")
    args = parser.parse_args()
    folder = ROOT / "runs" / args.experiment
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for n, seed, method in ((n, seed, m) for n in args.trajectories for seed in args.seeds for m in args.methods):
        name = f"{method}-{n}" + (f"-seed{seed}" if seed else "")
        run = folder / name
        results_path = run / "results.json"
        if not results_path.exists():
            if args.deadline and time.strftime("%H:%M", time.gmtime()) >= args.deadline:
                print(f"deadline {args.deadline} UTC passed: not starting {name}", flush=True)
                continue
            if run.exists():
                print(f"{name}: incomplete folder {run} left from an earlier attempt; not overwriting it", flush=True)
                continue
            cmd = [sys.executable, str(ROOT / "scripts" / "bc.py"), "--trajectories", str(n), "--method", method,
                   "--name", name, "--seed", str(seed), "--no-progress", f"run.experiment={args.experiment}", *args.overrides]  # fmt: skip
            print(f"{time.strftime('%H:%M:%S', time.gmtime())} start {name}: {' '.join(cmd[1:])}", flush=True)
            started = time.perf_counter()
            code = subprocess.call(cmd, cwd=ROOT)
            if code != 0:
                rows.append({"trajectories": n, "method": method, "seed": seed, "error": f"exit code {code}",
                             "wall_seconds": time.perf_counter() - started})  # fmt: skip
                print(f"{name}: failed with exit code {code}", flush=True)
                continue
        r = json.loads(results_path.read_text())
        last = r["history"][-1] if r["history"] else {}
        best = next((h for h in r["history"] if h["epoch"] == r["best_epoch"]), last)
        rows.append({
            "trajectories": n, "method": method, "seed": seed, "success": r["success"], "spl": r["spl"], "alpha": (r.get("alphas") or {}).get("alpha", r.get("alpha")),
            "epochs_run": r["epochs_run"], "best_epoch": r["best_epoch"], "val_accuracy": best.get("val_accuracy", float("nan")),
            "wall_seconds": r["wall_seconds"], "train_seconds": r["train_seconds"], "frames": r["frames"], "run": str(run),
        })  # fmt: skip
        print(f"{time.strftime('%H:%M:%S', time.gmtime())} done {name}: success {r['success']['mean']:.3f} "
              f"spl {r['spl']['mean']:.3f} ({r['wall_seconds'] / 60:.1f} min)", flush=True)  # fmt: skip
        (folder / "grid.json").write_text(json.dumps(rows, indent=1))
        (folder / "grid.md").write_text(table(rows))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
