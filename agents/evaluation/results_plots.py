"""Figures from whatever runs exist: BC success/SPL vs trajectories (paper Fig. 3c) and PPO curves (Fig. 3d).

Inputs per run folder, read by agents/evaluation/run_folder.py: ``config.yaml`` (``policy.method``, ``policy.base``,
``bc.trajectories``), and the held-out evaluation (``eval.json`` from scripts/evaluate.py when present, else the
trainer's own in ``results.json``) for BC points, and ``eval_history.json`` (a list of
``{"frames", "success", "spl", "reward", "per_episode"}`` written by the PPO trainer) for PPO curves. Seeds of
one method and base are averaged; runs whose configs differ beyond the seed are kept apart, named as the
reports name them. PPO bands: the 95% seeds-then-episodes bootstrap interval of the mean
(agents.evaluation.stats.bootstrap_mean) at the evaluations every seed made with per-episode outcomes; histories without
them get the spread across seeds (min to max). BC error bars: the spread across seeds, or the
run's 95% interval when there is one seed. Writes PNG and SVG.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation.run_folder import EVAL_HISTORY, RunFolder, find_run_folders, read_run_folder
from common.errors import MissingFileError

PPO_METRICS = (("reward", "episode reward"), ("success", "success rate"), ("spl", "SPL"))
BC_METRICS = (("success", "success rate"), ("spl", "SPL"))


def _read_runs(runs: Sequence[Path | RunFolder]) -> list[RunFolder]:
    """The readable run folders among ``runs``, paths read here (agents/evaluation/run_folder.py) and folders
    already read kept; one being written is left out."""
    read = []
    for run in runs:
        try:
            read.append(run if isinstance(run, RunFolder) else read_run_folder(run))
        except (OSError, ValueError):
            continue
    return read


def evaluated_on(runs: Sequence[Path | RunFolder]) -> str:
    """Where the runs' evaluations played, for a figure's title: 'held-out buildings', or the split(s) their
    configs' ``eval.split`` name (a design choice's runs evaluate the validation buildings, 'train_val')."""
    from agents.run.run_config import EvalSettings

    default = EvalSettings().split
    splits = sorted({str((run.config.get("eval") or {}).get("split") or default) for run in _read_runs(runs)})
    if splits in ([], ["heldout"]):
        return "held-out buildings"
    return "the " + " and ".join(f"'{s}'" for s in splits) + (" split" if len(splits) == 1 else " splits")


def _metric(evaluation: Mapping[str, Any], key: str) -> tuple[float, tuple[float, float] | None] | None:
    """(mean, ci95 or None) of summary ``key`` of an evaluation (None when it has no mean)."""
    value = evaluation.get(key)
    if not isinstance(value, Mapping) or value.get("mean") is None:
        return None
    ci = value.get("ci95")
    return float(value["mean"]), (tuple(ci) if ci and None not in ci else None)  # type: ignore[return-value]


def _label(method: Any, base: Any, bases: set[Any]) -> str:
    """'sidetune' or 'sidetune (curvature)' when several bases are plotted."""
    return f"{method} ({base})" if len(bases) > 1 else str(method)


def _pooled_names(runs: Sequence[RunFolder]) -> list[str]:
    """Each run's method as figures name it: with its variant (e.g. 'features [env.max_steps=500]') when its
    config differs beyond the seed from another run of its method, base and data, as the reports name it
    (agents/evaluation/eval_report.py ``config_variants``), so such runs never pool into one curve or point."""
    from agents.evaluation.eval_report import config_variants

    entries = [{"result": dict(run.summary), "config": run.config} for run in runs]
    return [
        f"{run.summary['method']} {variant}".strip()
        for run, variant in zip(runs, config_variants(entries), strict=True)
    ]


def collect_bc_points(runs: Sequence[Path | RunFolder]) -> dict[tuple[str, str], dict[int, list[dict[str, Any]]]]:
    """(method, base) -> trajectories -> per-seed {metric: (mean, ci)} from BC runs with a held-out evaluation."""
    points: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    read = [
        run
        for run in _read_runs(runs)
        if (run.config.get("bc") or {}).get("trajectories") is not None and run.evaluation is not None
    ]
    for run, method in zip(read, _pooled_names(read), strict=True):
        metrics = {key: _metric(run.evaluation, key) for key, _ in BC_METRICS}
        if all(metrics.values()):
            points[(method, str(run.summary["base"]))][int(run.config["bc"]["trajectories"])].append(metrics)
    return points


def collect_ppo_curves(runs: Sequence[Path | RunFolder]) -> dict[tuple[str, str], list[list[dict[str, float]]]]:
    """(method, base) -> one eval history per seed, sorted by frames. Only finished runs (results.json written)
    count where a method has any: a seed still training would cut every seed's curve to its own frames."""
    finished: dict[tuple[str, str], list[list[dict[str, float]]]] = defaultdict(list)
    running: dict[tuple[str, str], list[list[dict[str, float]]]] = defaultdict(list)
    read = [run for run in _read_runs(runs) if run.eval_history]
    for run, method in zip(read, _pooled_names(read), strict=True):
        rows = [r for r in run.eval_history if isinstance(r, Mapping) and "frames" in r]
        rows.sort(key=lambda r: r["frames"])
        if rows:
            group = finished if run.finished else running
            group[(method, str(run.summary["base"]))].append(rows)
    return {key: finished.get(key) or running[key] for key in sorted({*finished, *running})}


def _spread(values: list[float], ci: tuple[float, float] | None) -> tuple[float, float]:
    """(lower, upper) error around the mean: min..max across seeds, or the 95% interval of a single run."""
    mean = float(np.mean(values))
    if len(values) > 1:
        return mean - min(values), max(values) - mean
    if ci is not None:
        return max(0.0, mean - ci[0]), max(0.0, ci[1] - mean)
    return 0.0, 0.0


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (figures are written, never shown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg into ``out_dir``, then close the figure. The same figure gives the same
    bytes: the SVG carries no date and its element ids are salted with ``stem`` instead of at random, so a
    regenerated report's committed plots change only where the figure does."""
    import matplotlib

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    # savefig lays the figure out again in every call, for its layout engine (tight_layout) and for
    # bbox_inches="tight"; laid out and measured once here, as the PNG's savefig would (at its dpi), the layout
    # and the bounding box serve both files: the same PNG bytes, in less time
    dpi = 120
    fig.set_dpi(dpi)
    fig.draw_without_rendering()
    bbox = fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    fig.set_layout_engine("none")
    with matplotlib.rc_context({"svg.hashsalt": stem}):
        fig.savefig(paths[0], dpi=dpi, bbox_inches=bbox)
        fig.savefig(paths[1], dpi=dpi, bbox_inches=bbox, metadata={"Date": None})
    pyplot().close(fig)
    return paths


def plot_bc(
    points: Mapping[tuple[str, str], Mapping[int, list[dict[str, Any]]]],
    out_dir: Path,
    where: str = "held-out buildings",
) -> list[Path]:
    """Success and SPL vs number of expert trajectories, one line per method (Fig. 3c style), evaluated on
    ``where`` (evaluated_on)."""
    plt = pyplot()

    bases = {base for _, base in points}
    fig, axes = plt.subplots(1, len(BC_METRICS), figsize=(5.2 * len(BC_METRICS), 3.8))
    for (method, base), by_size in sorted(points.items()):
        sizes = sorted(by_size)
        for ax, (key, _title) in zip(axes, BC_METRICS, strict=False):
            means, lower, upper = [], [], []
            for size in sizes:
                seeds = by_size[size]
                values = [s[key][0] for s in seeds]
                lo, hi = _spread(values, seeds[0][key][1] if len(seeds) == 1 else None)
                means.append(float(np.mean(values)))
                lower.append(lo)
                upper.append(hi)
            ax.errorbar(sizes, means, yerr=[lower, upper], marker="o", capsize=3, label=_label(method, base, bases))
    for ax, (_, title) in zip(axes, BC_METRICS, strict=False):
        ax.set_xscale("log")
        ax.set_xlabel("expert trajectories")
        ax.set_ylabel(title)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Behaviour cloning on {where}")
    return save_figure(fig, out_dir, "bc_vs_trajectories")


def _ppo_band(
    seeds: Sequence[Sequence[Mapping[str, Any]]], key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frames, mean, lower, upper) of one method's curve: at the frames where every seed's evaluation kept its
    episodes, the mean over seeds and episodes with its seeds-then-episodes 95% interval; otherwise (histories
    without per-episode outcomes) seeds interpolated onto common frames, band min..max over seeds."""
    from agents.evaluation.stats import bootstrap_mean

    by_frames = [{int(r["frames"]): r["per_episode"] for r in rows if r.get("per_episode")} for rows in seeds]
    common = sorted(set.intersection(*(set(f) for f in by_frames))) if by_frames else []
    if common:
        stats = [
            bootstrap_mean(
                {str(i): {str(ep["episode_id"]): float(ep[key]) for ep in f[frame]} for i, f in enumerate(by_frames)},
                resamples=1000,
            )
            for frame in common
        ]
        mean = np.array([m for m, _ in stats])
        return (
            np.array(common, dtype=np.float64),
            mean,
            np.array([ci[0] for _, ci in stats]),
            np.array([ci[1] for _, ci in stats]),
        )
    frames = np.unique(np.concatenate([[r["frames"] for r in rows] for rows in seeds]).astype(np.float64))
    frames = frames[frames <= min(rows[-1]["frames"] for rows in seeds)]  # average only where every seed has data
    stacked = []
    for rows in seeds:
        points = [(r["frames"], float(r[key])) for r in rows if r.get(key) is not None and math.isfinite(float(r[key]))]
        if points:
            stacked.append(np.interp(frames, *zip(*points, strict=False)))
    if not stacked:
        return np.array([]), np.array([]), np.array([]), np.array([])
    values = np.vstack(stacked)
    return frames, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plot_ppo(
    curves: Mapping[tuple[str, str], list[list[dict[str, float]]]],
    out_dir: Path,
    where: str = "held-out buildings",
) -> list[Path]:
    """Reward, success and SPL on ``where`` (evaluated_on) vs frames, one line per method with its band
    (``_ppo_band``) (Fig. 3d)."""
    plt = pyplot()

    bases = {base for _, base in curves}
    fig, axes = plt.subplots(1, len(PPO_METRICS), figsize=(5.0 * len(PPO_METRICS), 3.8))
    for (method, base), seeds in sorted(curves.items()):
        label = _label(method, base, bases)
        for ax, (key, _) in zip(axes, PPO_METRICS, strict=False):
            frames, mean, lower, upper = _ppo_band(seeds, key)
            if frames.size:
                (line,) = ax.plot(frames, mean, label=f"{label} (n={len(seeds)})")
                ax.fill_between(frames, lower, upper, color=line.get_color(), alpha=0.2)
    for ax, (_, title) in zip(axes, PPO_METRICS, strict=False):
        ax.set_xlabel("frames")
        ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:g}k" if x else "0")  # 300k, not 300000 (labels overlap)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"PPO on {where}; bands: 95% seeds x episodes bootstrap interval of the mean")
    return save_figure(fig, out_dir, "ppo_curves")


def plot_results(paths: Iterable[str | Path], out_dir: str | Path) -> dict[str, Any]:
    """Find runs under ``paths``, draw the figures their results allow, and say what was drawn and skipped."""
    paths = list(paths)
    runs = find_run_folders(paths)
    read = _read_runs(runs)  # each folder read once for both figures and their titles
    out = Path(out_dir)
    points, curves = collect_bc_points(read), collect_ppo_curves(read)
    where = evaluated_on(read) if points or curves else ""
    written: list[Path] = []
    skipped: list[str] = []
    if points:
        written += plot_bc(points, out, where)
    else:
        skipped.append("BC figure: no run with bc.trajectories in config.yaml and an eval.json/results.json")
    if curves:
        written += plot_ppo(curves, out, where)
    else:
        skipped.append(f"PPO figure: no run with a non-empty {EVAL_HISTORY}")
    if not written:
        raise MissingFileError(
            f"no plottable results in {len(runs)} run folder(s) under {[str(p) for p in paths]}: " + "; ".join(skipped)
        )
    return {
        "runs": len(runs),
        "bc_runs": sum(len(v) for by_size in points.values() for v in by_size.values()),
        "ppo_runs": sum(len(v) for v in curves.values()),
        "written": [str(p) for p in written],
        "skipped": skipped,
    }
