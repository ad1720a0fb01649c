"""The report of an experiment folder from its runs' stored held-out evaluations, with nothing re-run.

    python scripts/report.py runs/imitation [--reference]

Reads every finished run below the folder (the evaluation its trainer wrote, or a later ``eval.json``:
agents.evaluation.eval_report.policy_entry), and writes into the folder:

- ``report.md``: the pooled table (agents/evaluation/eval_report.py), the paper's claim at every data size
  (sidetune minus the best other method, with the Design's verdict: holds when the interval's lower end
  is above -0.05), then, at every data size, **sidetune minus each
  other method** on the same base (paired seed x episode bootstrap, agents/evaluation/stats.py), **features with a
  pretrained base minus features with a randomly initialised base and minus blind** (is the prior used?),
  **variants of one method** (an ablation folder reported ``--with`` the grid: each variant minus the first),
  and the learned α of every sidetune group (final value over seeds);
- ``report.json``: the same numbers;
- ``plots/fig3c.{png,svg}``: success and SPL vs data size per base, each point a group's mean with its
  seeds-then-episodes 95% interval, the references as horizontal lines;
- ``plots/alpha.{png,svg}``: α over training (frames) of every sidetune run;
- ``plots/training.{png,svg}``: BC training loss over epochs per group (how fast each method fits its data).

``--reference`` evaluates the random, expert and goal-only policies once on the runs' episode set and keeps
them in ``references.json`` beside the report (later reports reuse them).
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation.alpha_probe import ALPHAS, loss_key
from agents.evaluation.eval_report import (
    aggregate,
    compare_groups,
    config_variants,
    evaluate_references,
    format_table,
    group_label,
    policy_entry,
)
from agents.evaluation.results import RunResults
from agents.evaluation.results_plots import pyplot, save_figure
from agents.evaluation.run_folder import TRAINER_SOURCE, find_run_folders
from agents.evaluation.stats import Comparison, bootstrap_mean, format_comparisons, paired_bootstrap
from agents.run.trainers import find_trainer, is_imitation
from common.atomic_io import atomic_write_text
from common.errors import MissingFileError
from policies.bases import pretrained_base_names
from policies.methods import method_spec

REFERENCES_FILE = "references.json"
CLAIM_METHOD = "sidetune"  # the paper's claim is about this method against every other
PLOT_ORDER = (CLAIM_METHOD, "finetune", "features", "scratch", "blind")  # legend order; other methods after these


def prior_targets() -> tuple[str, ...]:
    """The groups whose prior is compared with a random base's: features on each pretrained base."""
    return tuple(f"features base={name}" for name in pretrained_base_names())


CLAIM_MARGIN = (
    0.05  # docs/experiments.md, Design: "matches or beats the best" holds where sidetune - best other > -0.05
)
CLAIM_SEEDS = {49: 6}  # the Design's seeds per method at each N (3 elsewhere); a verdict on fewer is provisional


def claim_verdicts(comparisons: Sequence[Comparison], target: str = CLAIM_METHOD) -> list[dict[str, Any]]:
    """The paper's claim at each (sidetune group, data size): sidetune - best other with its interval and a verdict
    by the Design's rule (holds when the interval's lower end is above -CLAIM_MARGIN), marked provisional while
    either side has fewer seeds than the Design asks (CLAIM_SEEDS), as in a grid still running."""
    rows = []
    for c in comparisons:
        if not c.best_other:
            continue
        low, high = c.difference.ci95
        verdict = (
            "holds"
            if low > -CLAIM_MARGIN
            else f"does not hold: {target} is below the best"
            if high < 0
            else "not shown: the interval is too wide"
        )
        needed, seeds = CLAIM_SEEDS.get(c.data, 3), min(c.difference.seeds_a, c.difference.seeds_b)
        if seeds < needed:
            verdict += (
                f" (provisional: {c.difference.seeds_a} vs {c.difference.seeds_b} seeds, the Design asks {needed})"
            )
        rows.append(
            {
                "data": c.data,
                "target": c.target,
                "best_other": c.other,
                "mean": c.difference.mean,
                "ci95": [low, high],
                "seeds": [c.difference.seeds_a, c.difference.seeds_b],
                "verdict": verdict,
            }
        )
    return rows


def load_entries(
    *folders: Path, exclude: Sequence[str] = (), at: int | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """(evaluation entries of the finished runs below ``folders``, folders that have no evaluation yet). Each
    entry also keeps its run's results as ``training`` (α, α trajectory, loss history), read once. Run folders
    whose name matches a glob pattern of ``exclude`` are left out (e.g. seeds added to an experiment later).
    ``at``: each run's evaluation at that many frames (PPO milestones) instead of its final one."""
    entries, unfinished = [], []
    for run in find_run_folders(folders):
        if any(fnmatch.fnmatchcase(run.name, pattern) for pattern in exclude):
            continue
        try:
            entries.append(policy_entry(Path(run), with_training=True, at=at))
        except (OSError, ValueError):
            unfinished.append(shown_path(run))
    return entries, unfinished


SPLIT_WORDS = {  # split -> (what the report's first line calls its evaluations, the pooled table's heading)
    "heldout": ("held-out evaluations", "Held-out evaluation"),
    "train": ("evaluations on the training buildings", "Evaluation on the training buildings"),
}


def evaluated_split(entry: Mapping[str, Any]) -> str:
    """The split a run's stored evaluation played: recorded in the evaluation, else its config's ``eval.split``
    (evaluations older than the record), else the evaluator's default, heldout."""
    recorded = entry["result"].get("split")
    configured = ((entry.get("config") or {}).get("eval") or {}).get("split")
    return str(recorded or configured or "heldout")


def split_words(entries: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(phrase, heading) naming the split(s) the entries' evaluations played, e.g. a λ selection that evaluated
    training buildings is not headed as held-out."""
    splits = list(dict.fromkeys(evaluated_split(e) for e in entries)) or ["heldout"]
    if len(splits) == 1 and splits[0] in SPLIT_WORDS:
        return SPLIT_WORDS[splits[0]]
    named = " and ".join(f"'{s}'" for s in splits)
    return f"evaluations on the {named} splits", f"Evaluation on the {named} splits"


def evaluations_used(entries: Sequence[dict[str, Any]], log: Callable[[str], None] = print) -> list[str]:
    """report.md's lines saying which evaluation each run was reported from (that of its final checkpoint: a
    later eval.json that scored it, else the trainer's), and each eval.json passed over and why (also logged)."""
    if all(
        str(e.get("evaluation_source")).startswith(TRAINER_SOURCE) and not e.get("evaluation_ignored") for e in entries
    ):
        return []  # the usual case, which the report's first line states (older reports stay as they were)
    sources: dict[str, int] = defaultdict(int)
    for entry in entries:
        sources[str(entry.get("evaluation_source") or "?").split(" (")[0]] += 1
    lines = [
        "Each run is reported from the evaluation of its final checkpoint: "
        + ", ".join(f"{count} from {source}" for source, count in sorted(sources.items()))
        + " (report.json `evaluations` names each run's).\n"
    ]
    ignored = [e for e in entries if e.get("evaluation_ignored")]
    for entry in ignored:
        line = f"{shown_path(entry['run'])}: {entry['evaluation_ignored']}; reported from {entry['evaluation_source']}"
        log(line)
        lines.append(f"- {line}")
    return [*lines, ""] if ignored else lines


def shown_path(path: Path | str) -> str:
    """``path`` relative to the working directory when it lies below it (so a committed report names
    ``runs/imitation``, not one machine's absolute folder), otherwise as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def reference_entries(
    folder: Path, entries: Sequence[dict[str, Any]], evaluate: bool, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Random / expert / goal-only entries: from ``references.json``, or evaluated now (and kept) when asked."""
    path = folder / REFERENCES_FILE
    if path.is_file():
        return json.loads(path.read_text())
    if not evaluate or not entries:
        return []
    from agents.run.run_config import RunConfig

    configs = [RunConfig.from_dict(entries[0]["config"])]
    refs = [e for e in evaluate_references(configs, log=log, progress=False) if e["status"] == "ok"]
    atomic_write_text(path, json.dumps(refs, default=str))
    return refs


def trained_runs(entries: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """(entry, variant) of every trained run: variant is '' or the config keys that set it apart from other runs
    of its method (e.g. '[policy.alpha_lr=None]'), as the pooled table names it (agents/evaluation/eval_report.py)."""
    trained = [e for e in entries if e["status"] == "ok" and e["result"].get("kind") != "reference"]
    return list(zip(trained, config_variants(trained), strict=True))


def _runs_by_variant(
    entries: Sequence[dict[str, Any]], metric: str
) -> dict[tuple[str, str, str, Any], dict[str, dict[str, float]]]:
    """(method, variant, base, data) -> run -> episode id -> outcome, for trained runs ('' when no variant)."""
    table: dict[tuple[str, str, str, Any], dict[str, dict[str, float]]] = defaultdict(dict)
    for e, variant in trained_runs(entries):
        r = e["result"]
        key = (str(r.get("method")), variant, str(r.get("base")), r.get("data"))
        table[key][e["run"]] = {ep["episode_id"]: float(ep[metric]) for ep in r["per_episode"]}
    return table


def group_runs(
    entries: Sequence[dict[str, Any]], metric: str
) -> dict[tuple[str, str, Any], dict[str, dict[str, float]]]:
    """(method, base, data) -> run -> episode id -> outcome, for trained runs (blind is its own method; runs of a
    method that differ in config beyond the seed are separate methods, named with the differing keys)."""
    return {
        (method + (f" {variant}" if variant else ""), base, data): runs
        for (method, variant, base, data), runs in _runs_by_variant(entries, metric).items()
    }


def mixed_numerics(entries: Sequence[dict[str, Any]]) -> list[str]:
    """One line per group of runs (method and variant, base, data) whose 'auto' precisions resolved differently
    (results.json ``numerics``: seeds trained on machines with and without native bf16, or with and without TF32
    on CUDA); runs without that record are not counted."""
    seen: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e, variant in trained_runs(entries):
        results = _results(e)
        if results is None or not results.numerics:
            continue
        group = f"{group_label(e['result'])} {variant}".strip()  # as the pooled table names it
        numerics = results.numerics
        kind = f"base {numerics.get('base_dtype')}, update {numerics.get('train_precision')}"
        seen[group][kind + (", TF32" if numerics.get("tf32") else "")].append(shown_path(e["run"]))
    return [
        f"- {group}: " + "; ".join(f"{kind} ({len(runs)}: {', '.join(sorted(runs))})" for kind, runs in kinds.items())
        for group, kinds in sorted(seen.items())
        if len(kinds) > 1
    ]


def variant_comparisons(entries: Sequence[dict[str, Any]], metric: str) -> list[Comparison]:
    """Variants of one method (same method, base and data; configs that differ beyond the seed, e.g. an ablation
    of ``policy.alpha_lr`` beside the grid): every later variant minus the first, in sorted order, paired."""
    variants: dict[tuple[str, str, Any], dict[str, Any]] = defaultdict(dict)
    for (method, variant, base, data), runs in _runs_by_variant(entries, metric).items():
        if variant:
            variants[(method, base, data)][variant] = runs
    out = []
    for (method, base, data), by_variant in sorted(
        variants.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)
    ):
        first, *rest = sorted(by_variant)
        for other in rest:
            target, reference = f"{method} base={base} {other}", f"{method} base={base} {first}"
            diff = paired_bootstrap(by_variant[other], by_variant[first], names=(target, reference))
            out.append(Comparison(data, target, reference, diff, False))
    return out


def base_comparisons(entries: Sequence[dict[str, Any]], metric: str) -> list[Comparison]:
    """Pretrained bases against each other under one method (same variant and data): for each pair in sorted
    order, the first minus the second (e.g. curvature - denoising: does one prior help more, paper Sec. 4.4)."""
    bases: dict[tuple[str, str, Any], dict[str, Any]] = defaultdict(dict)
    for (method, variant, base, data), runs in _runs_by_variant(entries, metric).items():
        if base not in ("random", "None"):
            bases[(method, variant, data)][base] = runs
    out = []
    for (method, variant, data), by_base in sorted(bases.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        ordered = sorted(by_base)
        for i, first in enumerate(ordered):
            for second in ordered[i + 1 :]:
                name = method + (f" {variant}" if variant else "")
                target, reference = f"{name} base={first}", f"{name} base={second}"
                diff = paired_bootstrap(by_base[first], by_base[second], names=(target, reference))
                out.append(Comparison(data, target, reference, diff, False))
    return out


def alpha_summary(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per merging group (method, variant, base, data): the final α of each seed (results.json
    ``alphas``) and the α probe (held-out action loss with α forced to each of ``PROBE_ALPHAS``;
    agents/evaluation/alpha_probe.py), which reads what the merge relies on without the optimiser: its mean over
    the ``probe_seeds`` seeds that have one (runs trained without the probe have none). Rows carry ``method`` only when
    more than one merging method is present."""
    finals: dict[tuple[str, str, str, Any], list[float]] = defaultdict(list)
    probes: dict[tuple[str, str, str, Any], list[dict[str, float] | None]] = defaultdict(list)
    for e, variant in trained_runs(entries):
        r = e["result"]
        results = _results(e)
        alphas = results.alphas if results is not None and merges(r.get("method")) else {}
        if "alpha" in alphas:
            key = (str(r.get("method")), variant, str(r.get("base")), r.get("data"))
            finals[key].append(float(alphas["alpha"]))
            probes[key].append((results.alpha_probe or {}).get("loss"))
    several = len({method for method, *_ in finals}) > 1
    return [
        {
            **({"method": method} if several else {}),
            "base": base,
            "data": data,
            **({"variant": variant} if variant else {}),
            "seeds": len(v),
            "mean": float(np.mean(v)),
            "min": float(min(v)),
            "max": float(max(v)),
            **_mean_probe(probes[(method, variant, base, data)]),
        }
        for (method, variant, base, data), v in sorted(
            finals.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or 0)
        )
    ]


PROBE_ALPHAS = tuple(loss_key(a) for a in ALPHAS)  # the probe's forced α values, as results.json keys


def _format_probe(row: dict[str, Any]) -> str:
    """A row's probe cell: the losses at α = 0 / 0.5 / 1, with how many seeds they are from when not all."""
    if row["probe_loss"] is None:
        return "-"
    text = " / ".join(f"{row['probe_loss'][a]:.3f}" for a in PROBE_ALPHAS)
    return text if row["probe_seeds"] == row["seeds"] else f"{text} ({row['probe_seeds']} of {row['seeds']} seeds)"


def _mean_probe(losses: Sequence[dict[str, float] | None]) -> dict[str, Any]:
    """``probe_loss``: the α probe's loss at each forced α, mean over the seeds that have all of them (None when
    none has), and ``probe_seeds``, how many those are."""
    probed = [loss for loss in losses if loss is not None and all(a in loss for a in PROBE_ALPHAS)]
    mean = {a: float(np.mean([loss[a] for loss in probed])) for a in PROBE_ALPHAS} if probed else None
    return {"probe_loss": mean, "probe_seeds": len(probed)}


def merges(method: Any) -> bool:
    """Whether runs of ``method`` merge a base and a side network (have an α to report)."""
    spec = method_spec(str(method))
    return spec is not None and spec.merges


def _results(entry: Mapping[str, Any]) -> RunResults | None:
    """The run's results as load_entries kept them (None when it has none)."""
    return entry.get("training")


def plot_fig3c(entries: Sequence[dict[str, Any]], references: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Success and SPL vs data size, one panel row per pretrained base; random-base rows drawn in every panel."""
    plt = pyplot()

    metrics = (("success", "success rate"), ("spl", "SPL"))
    tables = {m: group_runs(entries, m) for m, _ in metrics}
    bases = sorted({b for (_, b, _) in tables["success"] if b not in ("random", "None")}) or ["random"]
    fig, axes = plt.subplots(len(bases), len(metrics), figsize=(5.4 * len(metrics), 3.9 * len(bases)), squeeze=False)
    for row, base in enumerate(bases):
        for col, (metric, title) in enumerate(metrics):
            ax = axes[row][col]
            groups = sorted(
                {(m, b) for (m, b, _) in tables[metric] if b in (base, "random", "None")},
                key=lambda mb: (
                    mb[1] == "random",
                    PLOT_ORDER.index(mb[0].split(" ")[0]) if mb[0].split(" ")[0] in PLOT_ORDER else 9,
                    mb[0],
                ),
            )
            for i, (method, b) in enumerate(groups):
                sizes = sorted(d for (m, bb, d) in tables[metric] if (m, bb) == (method, b))
                stats = [bootstrap_mean(tables[metric][(method, b, d)], resamples=2000) for d in sizes]
                means = np.array([s[0] for s in stats])
                err = np.array([[s[0] - s[1][0], s[1][1] - s[0]] for s in stats]).T
                shift = np.array(sizes, dtype=float) * (1.0 + 0.04 * (i - (len(groups) - 1) / 2))  # keep bars apart
                style = "--" if b == "random" else "-"
                label = "blind (random base, RGB zeroed)" if method == "blind" else f"{method} ({b})"
                ax.errorbar(shift, means, yerr=err, marker="o", capsize=3, linestyle=style, label=label)
            for ref in references:
                value = ref["result"][metric]["mean"]
                ax.axhline(value, color="grey", linewidth=0.8, linestyle=":")
                ax.annotate(
                    ref["result"]["method"],
                    (1.0, value),
                    xycoords=("axes fraction", "data"),
                    fontsize=7,
                    color="grey",
                    ha="right",
                    va="bottom",
                )
            ax.set_xscale("log")
            all_sizes = sorted({d for (_, _, d) in tables[metric] if d is not None})
            ax.set_xticks(all_sizes, [str(d) for d in all_sizes])
            ax.minorticks_off()
            ax.set_xlim(min(all_sizes) / 1.6, max(all_sizes) * 1.6)
            ax.set_xlabel("expert trajectories")
            ax.set_ylabel(title)
            ax.set_title(f"{base} base: {title}", fontsize=10)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.legend(fontsize=7)
    phrase = split_words(entries)[0]  # a selection on training buildings is not titled held-out
    where = "420 held-out episodes" if phrase == SPLIT_WORDS["heldout"][0] else phrase
    fig.suptitle(f"Behaviour cloning, {where}; bars: 95% seed x episode bootstrap interval")
    fig.tight_layout()
    return save_figure(fig, out_dir, "fig3c")


def plot_alpha(entries: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """α over training frames of every sidetune run, one colour per (base, data size, variant), variants of a
    method (e.g. an α learning-rate ablation) also told apart by line style."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colours: dict[tuple[str, Any, str], Any] = {}
    runs = sorted(trained_runs(entries), key=lambda ev: ev[0]["run"])
    named = sorted({variant for _, variant in runs if variant})  # solid: no variant and the first in sorted order
    styles = {"": "-", **{v: ("-", "--", ":", "-.")[i % 4] for i, v in enumerate(named)}}
    for e, variant in runs:
        r = e["result"]
        trajectory = results.alpha_trajectory if (results := _results(e)) is not None else []
        if not merges(r.get("method")) or not trajectory:
            continue
        key = (str(r.get("base")), r.get("data"), variant)
        frames = [max(1, int(f)) for f, _ in trajectory]
        values = [a["alpha"] for _, a in trajectory]
        trainer = find_trainer(str(r.get("kind")))
        size = trainer.data_size(key[1]) if trainer is not None else f"N={key[1]}"
        label = None if key in colours else f"{key[0]}, {size}" + (f" {variant}" if variant else "")
        (line,) = ax.plot(
            frames, values, color=colours.get(key), linestyle=styles[variant], linewidth=1, alpha=0.8, label=label
        )
        colours.setdefault(key, line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("training frames seen")
    ax.set_ylabel("α (weight of the frozen base)")
    ax.grid(alpha=0.3)
    if colours:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_dir, "alpha")


def plot_training(entries: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """BC training loss over epochs, mean over seeds, one panel per data size and one line per group: how fast
    each method fits its N trajectories, beside how it does on held-out buildings (Fig. 3c)."""
    plt = pyplot()

    curves: dict[Any, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for e, variant in trained_runs(entries):
        r = e["result"]
        results = _results(e)
        epochs = (results.history if results else None) or []
        history = [h for h in epochs if isinstance(h.get("train_loss"), (int, float))]
        if is_imitation(r.get("kind")) and history:
            name = "blind" if r.get("method") == "blind" else f"{r.get('method')} ({r.get('base')})"
            curves[r.get("data")][name + (f" {variant}" if variant else "")].append([h["train_loss"] for h in history])
    if not curves:
        return []
    sizes = sorted(curves, key=lambda d: d or 0)
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.0 * len(sizes), 3.8), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=False):
        for name, runs in sorted(curves[size].items()):
            length = min(map(len, runs))
            mean = np.mean([run[:length] for run in runs], axis=0)
            ax.plot(np.arange(1, length + 1), np.maximum(mean, 1e-4), label=f"{name} (n={len(runs)})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (cross-entropy, mean over seeds)")
        ax.set_title(f"N={size} trajectories", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_dir, "training")


def build_report(
    folder: Path,
    reference: bool = False,
    log: Callable[[str], None] = print,
    partners: Sequence[Path] = (),
    target: str = CLAIM_METHOD,
    exclude: Sequence[str] = (),
    out: Path | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """Read the runs below ``folder`` (and below ``partners``: other experiments' runs to compare with), write
    report.md / report.json / plots into ``folder`` (or ``out``: a second report of the same runs, e.g. a
    subset of seeds, beside the main one), return the report's numbers. ``target``: the method whose
    claim is tested against every other (the paper's sidetune; e.g. sidetune-l2sp for the method beyond it).
    ``exclude``: glob patterns of run-folder names left out, so that a report stays reproducible when cells
    join its folders later (the command written into report.md names them). ``at``: report each PPO run's
    evaluation at that many frames (``train.milestones``), e.g. a 1M-frame experiment at 300k."""
    folder = Path(folder)
    target_dir = Path(out) if out is not None else folder
    for f in (folder, *map(Path, partners)):
        if not f.is_dir():
            raise MissingFileError(
                f"experiment folder: {f} does not exist (e.g. runs/imitation after scripts/sweep.py)"
            )
    entries, unfinished = load_entries(folder, *map(Path, partners), exclude=exclude, at=at)
    if not entries:
        raise MissingFileError(
            f"experiment folder: no finished run below {folder} ({len(unfinished)} without an evaluation yet)"
        )
    references = reference_entries(folder, entries, reference, log)
    rows = aggregate(references + entries)
    comparisons = {m: compare_groups(entries, target, m) for m in ("success", "spl")}
    prior = {
        t: [
            c
            for c in compare_groups(entries, t, "success")
            if c.other.split(" base=")[0].endswith(("features", "blind")) and ("base=random" in c.other)
        ]
        for t in prior_targets()
    }
    claim = claim_verdicts(comparisons["success"], target)
    variants = {m: variant_comparisons(entries, m) for m in ("success", "spl")}
    between_bases = base_comparisons(entries, "success")
    alphas = alpha_summary(entries)
    mixed = mixed_numerics(entries)
    bc = [e for e in entries if is_imitation(e["result"].get("kind"))]
    plots = (
        [*plot_fig3c(bc, references, target_dir / "plots"), *plot_training(bc, target_dir / "plots")] if bc else []
    )  # PPO curves: scripts/plot_results.py
    plots += plot_alpha(entries, target_dir / "plots")
    evaluations, evaluation_heading = split_words(entries)
    evaluations_note = evaluations_used(entries, log)
    text = [
        f"# Report: {target_dir.name}\n",
        f"{len(entries)} finished runs"
        + (f", {len(unfinished)} without an evaluation yet" if unfinished else "")
        + ". Written by `python scripts/report.py "
        + shown_path(folder)
        + "".join(f" --with {shown_path(p)}" for p in partners)
        + (f" --target {target}" if target != CLAIM_METHOD else "")
        + "".join(f" --exclude {shlex.quote(pattern)}" for pattern in exclude)
        + (f" --out {shown_path(target_dir)}" if out is not None else "")
        + (f" --at {at}" if at is not None else "")
        + f"` from the runs' stored {evaluations}"
        + (
            f" at {at:,} frames (each run's milestone evaluation; α is reported at the end of training only)"
            if at is not None
            else ""
        )
        + ".\n",
        f"## {evaluation_heading}, seeds pooled\n",
        format_table(rows, markdown=True) + "\n",
        *evaluations_note,
    ]
    if claim:
        text += [
            f"## The claim: {target} matches or beats the best other method "
            f"(success; holds where {target} - best other "
            f"has its 95% interval's lower end above -{CLAIM_MARGIN})\n",
            f"| data | {target} | best other | difference [95% CI] | seeds | verdict |",
            "|---|---|---|---|---|---|",
            *[
                f"| {r['data']} | {r['target']} | {r['best_other']} "
                f"| {r['mean']:+.3f} [{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}] "
                f"| {r['seeds'][0]} vs {r['seeds'][1]} | {r['verdict']} |"
                for r in claim
            ],
            "",
        ]
    for metric in ("success", "spl"):
        if comparisons[metric]:
            text += [
                f"## {target} minus each other method ({metric}; paired seed x episode bootstrap, 95% interval; "
                "'best other': the other method with the highest mean at that size)\n",
                format_comparisons(comparisons[metric], metric, markdown=True) + "\n",
            ]
    for prior_target, found in prior.items():
        if found:
            text += [
                f"## Is the prior used? {prior_target} minus features on a random base and minus blind (success)\n",
                format_comparisons(found, "success", markdown=True) + "\n",
            ]
    if between_bases:
        text += [
            "## Base against base: each pretrained base minus the next, per method (success; paired seed x episode "
            "bootstrap, 95% interval)\n",
            format_comparisons(between_bases, "success", markdown=True) + "\n",
        ]
    for metric in ("success", "spl"):
        if variants[metric]:
            text += [
                f"## Variants of a method: each minus the first ({metric}; same method, base and data, configs that "
                "differ beyond the seed; paired seed x episode bootstrap, 95% interval)\n",
                format_comparisons(variants[metric], metric, markdown=True) + "\n",
            ]
    if alphas:
        text += [
            "## Learned α (final value; mean and range over seeds)\n",
            "α's path is Adam's (|dL/dα| is tiny, so any consistent gradient sign moves it at full speed): read it "
            "beside the α probe, the held-out action loss (cross-entropy on the expert's actions) of the trained "
            "policy with α forced to 0 (side only), 0.5 and 1 (base only), mean over the seeds that have it (runs "
            "older than the probe have none: '-'); lower is better (agents/evaluation/alpha_probe.py).\n",
            f"| {'method, ' if any('method' in a for a in alphas) else ''}base | N | seeds | α mean | min | max "
            "| probe loss α=0 / 0.5 / 1 |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        text += [
            f"| {a['method'] + ' ' if 'method' in a else ''}{a['base']}{' ' + a['variant'] if 'variant' in a else ''}"
            f" | {a['data']} | {a['seeds']} "
            f"| {a['mean']:.3f} | {a['min']:.3f} | {a['max']:.3f} | " + _format_probe(a) + " |"
            for a in alphas
        ]
        text.append("")
    if mixed:
        text += [
            "## Mixed numerics: runs of one group trained in different precisions\n",
            "Their 'auto' precisions resolved differently on different machines (results.json `numerics`), so "
            "these groups pool two numerics; pin `policy.base_precision` / `policy.train_precision` to compare "
            "like with like.\n",
            *mixed,
            "",
        ]
    text += [
        "## Figures\n",
        *(
            ["![Fig. 3c](plots/fig3c.png)\n", "![training loss](plots/training.png)\n"]
            if bc
            else ["PPO curves: plots/ppo_curves.png (scripts/plot_results.py)\n"]
        ),
        "![alpha](plots/alpha.png)\n",
    ]
    if unfinished:
        text += ["## Not finished yet\n", *[f"- {u}" for u in unfinished], ""]
    report = {
        "rows": rows,
        "claim": claim,
        "comparisons": {m: [c.to_dict() for c in cs] for m, cs in comparisons.items()},
        "prior": {t: [c.to_dict() for c in cs] for t, cs in prior.items()},
        "variants": {m: [c.to_dict() for c in cs] for m, cs in variants.items()},
        "bases": [c.to_dict() for c in between_bases],
        "alphas": alphas,
        "unfinished": unfinished,
        **({"mixed_numerics": mixed} if mixed else {}),  # only when there is a mix: other reports keep their bytes
        "groups": sorted({group_label(e["result"]) for e in entries}),
    }
    if evaluations_note:  # only when an eval.json was used or passed over: older reports stay as they were
        report["evaluations"] = {shown_path(e["run"]): e.get("evaluation_source") for e in entries}
    target_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target_dir / "report.md", "\n".join(text))
    atomic_write_text(target_dir / "report.json", json.dumps(report, indent=1, default=str))
    return {"report": report, "written": [target_dir / "report.md", target_dir / "report.json", *plots]}
