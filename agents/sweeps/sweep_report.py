"""The report a sweep writes when it ends: ``sweep.json`` (every cell's status), ``sweep.md`` (a per-cell table
and the evaluation report's table, seeds pooled) and the plots of scripts/plot_results.py.

Policies (BC, PPO) are tabled from the held-out evaluation their trainer already ran (``eval.json`` when
``scripts/evaluate.py`` has evaluated the run since, else ``results.json``), read by agents/evaluation/run_folder.py
and pooled by agents/evaluation/eval_report.py, so a sweep's table is the one ``scripts/evaluate.py`` prints;
pretraining cells from their encoder.json.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.evaluation.eval_report import aggregate, format_table, policy_entry
from agents.evaluation.experiment_report import build_report
from agents.evaluation.results_plots import plot_results
from agents.evaluation.run_folder import read_run_folder
from agents.run.trainers import trainer_spec
from common.atomic_io import atomic_write_text


def _mean(block: Any) -> float | None:
    value = block.get("mean") if isinstance(block, Mapping) else block
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _cell_metrics(trainer: str, folder: Path) -> dict[str, Any]:
    """The few numbers the per-cell table shows (empty when the cell has none)."""
    try:
        if trainer_spec(trainer).output_key:  # a job that writes one file (pretraining: the encoder's .json)
            p = json.loads((folder / "encoder.json").read_text())
            return {
                "held-out loss": p.get("heldout_loss"),
                "trivial loss": p.get("trivial_loss"),
                "train loss": p.get("train_loss"),
            }
        run = read_run_folder(folder)
        if run.results is None or run.evaluation is None:
            return {}
        alpha = run.results.alphas.get("alpha")  # BC and PPO both write {name: α}
        return {"success": _mean(run.evaluation["success"]), "SPL": _mean(run.evaluation["spl"]), "α": alpha}
    except (OSError, ValueError, KeyError):
        return {}


def cell_table(trainer: str, cells: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: one row per cell with its status, metrics, seconds in this sweep and the failure reason."""
    metrics = {c["cell"]: _cell_metrics(trainer, Path(c["folder"])) if c["status"] == "done" else {} for c in cells}
    keys = list(trainer_spec(trainer).cell_metrics)
    out = [
        "| cell | status | " + " | ".join(keys) + " | seconds (this sweep) | reason |",
        "|---|---|" + "---:|" * len(keys) + "---:|---|",
    ]
    for c in cells:
        status = "done (earlier)" if c.get("skipped") else c["status"]
        values = ["—" if metrics[c["cell"]].get(k) is None else f"{metrics[c['cell']][k]:.3f}" for k in keys]
        seconds = "" if c.get("skipped") or "seconds" not in c else f"{c['seconds']:.0f}"
        reason = str(c.get("reason") or "").replace("|", "/")
        out.append(f"| {c['cell']} | {status} | " + " | ".join(values) + f" | {seconds} | {reason} |")
    return "\n".join(out) + "\n"


def pooled_table(cells: Sequence[Mapping[str, Any]]) -> str:
    """The evaluation report's table (agents/evaluation/eval_report.py) over the finished and failed cells."""
    entries: list[dict[str, Any]] = []
    for c in cells:
        if c["status"] == "done":
            try:
                entries.append(policy_entry(Path(c["folder"])))
            except (OSError, ValueError) as err:
                entries.append({"run": c["folder"], "status": "failed", "reason": str(err)})
        elif c["status"] == "failed":
            entries.append({"run": c["folder"], "status": "failed", "reason": c.get("reason", "")})
    return format_table(aggregate(entries), markdown=True) + "\n" if entries else ""


def write_report(spec: Any, cells: Sequence[Mapping[str, Any]], wall_seconds: float) -> list[Path]:
    """Write sweep.json, sweep.md and (BC/PPO) the plots and report.md into the experiment folder; returns what was
    written."""
    folder: Path = spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    counts = {s: sum(c["status"] == s for c in cells) for s in ("done", "failed", "not started", "interrupted")}
    summary = {
        "experiment": spec.experiment,
        "trainer": spec.trainer,
        "wall_seconds_this_sweep": round(wall_seconds, 1),
        "counts": counts,
        "cells": list(cells),
    }
    written = [folder / "sweep.json", folder / "sweep.md"]
    atomic_write_text(written[0], json.dumps(summary, indent=1, default=str))
    text = [
        f"# Sweep {spec.experiment} ({spec.trainer})\n",
        f"{len(cells)} cells: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; this sweep's wall time {wall_seconds / 60:.1f} min.\n",
        cell_table(spec.trainer, cells),
    ]
    if spec.trainer != "pretrain":
        pooled = pooled_table(cells)
        if pooled:
            text += ["\n## Held-out evaluation, seeds pooled (agents/evaluation/eval_report.py)\n", pooled]
        try:
            written += [Path(p) for p in plot_results([folder], folder / "plots")["written"]]
        except FileNotFoundError as err:
            text.append(f"\nNo plots: {err}\n")
        if counts["done"]:
            try:
                written += build_report(folder, log=lambda _: None)["written"]
                figure = " and Fig. 3c with intervals" if trainer_spec(spec.trainer).imitation else ""
                text.append(f"\nPaired comparisons, learned alpha{figure}: [report.md](report.md)\n")
            except (OSError, ValueError) as err:
                text.append(f"\nNo report.md: {err}\n")
    atomic_write_text(written[1], "\n".join(text))
    return written
