"""Evaluate many runs and print one results table (scripts/evaluate.py's work, importable for tests).

Runs are grouped by trainer kind, method, base and data size (BC trajectories or PPO frames); runs of
one group that differ only in seed are aggregated by pooling their episodes (Wilson / bootstrap
intervals over the pooled episodes; the spread across seeds is shown as the standard deviation of the
per-run success rates). A run that cannot be evaluated becomes a FAILED row with the reason and never
stops the others. Reference rows (random, expert, goal-only) are evaluated with each distinct env config
among the runs, so they share the runs' observations, action set and episodes. ``compare_groups`` gives
one method minus every other at each data size with the paired seed x episode bootstrap (agents/evaluation/stats.py).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation.evaluate import REFERENCE_POLICIES, evaluate_policy, evaluate_run
from agents.evaluation.metrics import summarize_episodes
from agents.evaluation.run_folder import EVAL_FILE, read_run_folder
from agents.evaluation.stats import Comparison, PairingError, compare_methods
from agents.run.run_config import RunConfig
from agents.run.trainers import find_trainer
from common.errors import BadInputError
from envs.config import EnvConfig
from policies.methods import PolicyConfig, method_spec

SEED_ONLY_SECTIONS = ("run", "eval")  # runs whose configs differ only here are seeds of one group
COMPARED_METRICS = ("success", "spl", "reward")  # per-episode metrics of the paired comparisons


def base_free(method: Any) -> bool:
    """Whether a group's result does not depend on policy.base (compared with every target): blind rows, and
    methods that load no pretrained base (their spec says so)."""
    spec = method_spec(str(method))
    return method == "blind" or (spec is not None and not spec.pretrained_base)


def _failure(path: str, err: BaseException) -> dict[str, Any]:
    """A FAILED entry for ``path`` with the error's type and message."""
    return {"run": path, "status": "failed", "reason": f"{type(err).__name__}: {err}"}


def _group_fields_of(path: Path) -> dict[str, Any]:
    """Best-effort grouping fields of a run folder whose evaluation failed (from its config, if readable)."""
    try:
        folder = path.parent.parent if path.is_file() and path.parent.name == "checkpoints" else path
        return read_run_folder(folder).summary
    except Exception:
        return {}


def evaluate_runs(
    paths: Sequence[str | Path],
    log: Callable[[str], None] = print,
    **eval_kwargs: Any,
) -> list[dict[str, Any]]:
    """Evaluate each run folder or checkpoint (writing its eval.json); failures become entries with a reason."""
    entries: list[dict[str, Any]] = []
    for path in paths:
        try:
            result = evaluate_run(path, **eval_kwargs)
            config = read_run_folder(result["run_dir"]).config
            entries.append({"run": str(path), "status": "ok", "result": result, "config": config})
            log(
                f"{path}: success {result['success']['mean']:.3f}, SPL {result['spl']['mean']:.3f} "
                f"-> {Path(result['run_dir']) / EVAL_FILE}"
            )
        except KeyboardInterrupt:
            raise
        except Exception as err:  # one bad run must not stop the others
            entry = _failure(str(path), err)
            entry.update(
                {k: v for k, v in _group_fields_of(Path(path)).items() if k in ("kind", "method", "base", "data")}
            )
            entry["would_group"] = group_label(entry) if entry.get("method") else None
            entries.append(entry)
            log(f"{path}: FAILED ({entry['reason']})")
    return entries


def evaluate_references(
    configs: Sequence[RunConfig],
    log: Callable[[str], None] = print,
    **eval_kwargs: Any,
) -> list[dict[str, Any]]:
    """Random and expert entries for each distinct env setup among ``configs`` (env section + frame stack)."""
    seen: dict[str, RunConfig] = {}
    for cfg in configs:
        c = cfg.to_dict()
        key = json.dumps(
            {"env": c.get("env"), "frame_stack": c.get("frame_stack", 1), "eval": c.get("eval")}, sort_keys=True
        )
        seen.setdefault(key, cfg)
    entries: list[dict[str, Any]] = []
    for number, cfg in enumerate(seen.values(), start=1):
        s = cfg.eval.replace(**{k: v for k, v in eval_kwargs.items() if k in ("split", "seed")})
        kwargs = {
            k: v
            for k, v in eval_kwargs.items()
            if k in ("episodes_per_building", "num_envs", "deterministic", "progress")
        }
        suffix = f" (env {number})" if len(seen) > 1 else ""
        for name in REFERENCE_POLICIES:
            label = f"{name}{suffix}"
            try:
                result = evaluate_policy(name, cfg, s.replace(videos=0), **kwargs)
                entries.append(
                    {
                        "run": label,
                        "status": "ok",
                        "result": {**result, "kind": "reference", "method": name},
                        "config": {"env": cfg.env.to_dict(), "frame_stack": cfg.frame_stack},
                    }
                )
                log(f"{label}: success {result['success']['mean']:.3f}, SPL {result['spl']['mean']:.3f}")
            except Exception as err:
                entries.append({**_failure(label, err), "kind": "reference", "method": name})
                log(f"{label}: FAILED ({type(err).__name__}: {err})")
    return entries


def group_label(fields: Mapping[str, Any]) -> str:
    """'ppo sidetune base=curvature data=100000' style label of a group."""
    kind, method = fields.get("kind") or "?", fields.get("method") or "?"
    if kind == "reference":
        return f"reference {method}"
    data = fields.get("data")
    trainer = find_trainer(str(kind))
    unit = trainer.data_unit if trainer is not None else ""
    return f"{kind} {method} base={fields.get('base')}" + (f" data={data}{unit}" if data is not None else "")


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b': value} of a nested dict."""
    if not isinstance(tree, Mapping):
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}."))
    return out


@functools.cache
def _section_defaults() -> dict[str, dict[str, Any]]:
    """The ``policy`` and ``env`` sections' field defaults (PolicyConfig, EnvConfig): a field added later defaults
    to the behaviour runs had before it existed."""
    return {"policy": dataclasses.asdict(PolicyConfig()), "env": EnvConfig().to_dict()}


def _fingerprint(entry: Mapping[str, Any]) -> str:
    """The entry's config without its seed-only sections (reference rows: their env setup). Policy and env fields a
    run's config lacks count as their defaults, so such runs still pool with runs that set them to the default,
    e.g. ``policy.base_precision=float32`` or ``env.num_val_buildings=8``."""
    config = {k: v for k, v in (entry.get("config") or {}).items() if k not in SEED_ONLY_SECTIONS}
    for section, defaults in _section_defaults().items():
        if isinstance(config.get(section), Mapping):
            config[section] = {**defaults, **config[section]}
    return json.dumps(config, sort_keys=True, default=str)


def _labels(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Group label of each successful entry; runs that share a label but differ in config beyond the seed
    get the differing keys appended, so they are never pooled."""
    base = [group_label(e["result"]) for e in entries]
    prints = [_fingerprint(e) for e in entries]
    labels = list(base)
    for label in set(base):
        distinct = list(dict.fromkeys(p for b, p in zip(base, prints, strict=False) if b == label))
        if len(distinct) < 2:
            continue
        flats = [_flat(json.loads(p)) for p in distinct]
        keys = sorted(k for k in set().union(*flats) if len({json.dumps(f.get(k), default=str) for f in flats}) > 1)
        for i, (b, p) in enumerate(zip(base, prints, strict=False)):
            if b == label:
                flat = flats[distinct.index(p)]
                shown = ", ".join(f"{k}={flat.get(k)}" for k in keys[:3]) + (", ..." if len(keys) > 3 else "")
                labels[i] = f"{label} [{shown}]"
    return labels


def config_variants(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Each entry's variant: '' or the config keys that set it apart from other runs of its group (e.g.
    '[env.max_steps=500]'), as the pooled table names it; such runs are never pooled."""
    return [label[len(group_label(e["result"])) :].strip() for e, label in zip(entries, _labels(entries), strict=True)]


def aggregate(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows: one per group of successful runs (seeds pooled) and backend they were evaluated on, then
    one per failed run."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order: list[tuple[str, str]] = []
    ok = [e for e in entries if e["status"] == "ok"]
    for entry, label in zip(ok, _labels(ok), strict=False):
        key = (label, _backend_of([entry]))  # one run evaluated on two backends gives two rows
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(entry)
    rows: list[dict[str, Any]] = []
    for key in order:
        label, members = key[0], groups[key]
        pooled = [ep for m in members for ep in m["result"]["per_episode"]]
        rates = [m["result"]["success"]["mean"] for m in members]
        rows.append(
            {
                "group": label,
                "status": "ok",
                "backend": _backend_of(members),
                "runs": len(members),
                "run_paths": [m["run"] for m in members],
                "episodes": len(pooled),
                "seed_std_success": float(np.std(rates, ddof=1)) if len(rates) > 1 else None,
                **summarize_episodes(pooled),
            }
        )
    for entry in entries:
        if entry["status"] != "ok":
            rows.append(
                {
                    "group": entry["run"],
                    "status": "failed",
                    "would_group": entry.get("would_group"),
                    "runs": 1,
                    "run_paths": [entry["run"]],
                    "reason": entry["reason"],
                }
            )
    return rows


def _backend_of(members: Sequence[Mapping[str, Any]]) -> str:
    """The simulator backend the members were evaluated on (their results say; else their env config)."""
    names = {
        str(m["result"].get("backend") or ((m.get("config") or {}).get("env") or {}).get("backend") or "embedded")
        for m in members
    }
    return ", ".join(sorted(names))


def _fmt(block: Mapping[str, Any] | None, digits: int = 2, percent: bool = False) -> str:
    """'mean [lo, hi]' of a summary block (as percentages when ``percent``)."""
    if not block or block.get("mean") is None or (isinstance(block["mean"], float) and math.isnan(block["mean"])):
        return "-"
    k = 100.0 if percent else 1.0
    lo, hi = block["ci95"]
    if lo is None or hi is None:
        return f"{block['mean'] * k:.{digits}f}"
    return f"{block['mean'] * k:.{digits}f} [{lo * k:.{digits}f}, {hi * k:.{digits}f}]"


def format_table(rows: Sequence[Mapping[str, Any]], markdown: bool = False) -> str:
    """A fixed-width text (or Markdown) table of aggregated rows; failed runs are listed with their reason."""
    header = [
        "group",
        "backend",
        "runs",
        "episodes",
        "success % [95% CI]",
        "SPL [95% CI]",
        "final dist m [95% CI]",
        "reward [95% CI]",
    ]
    lines: list[list[str]] = []
    failures: list[str] = []
    for row in rows:
        if row["status"] == "ok":
            lines.append(
                [
                    row["group"],
                    row.get("backend", "embedded"),
                    str(row["runs"]),
                    str(row["episodes"]),
                    _fmt(row["success"], 1, percent=True),
                    _fmt(row["spl"], 3),
                    _fmt(row["distance_to_goal"], 2),
                    _fmt(row["reward"], 2),
                ]
            )
        else:
            lines.append([row["group"], "-", "1", "-", "FAILED", "", "", ""])
            group = f" ({row['would_group']})" if row.get("would_group") else ""
            failures.append(f"FAILED {row['run_paths'][0]}{group}: {row['reason']}")
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]

        def render(cells: Sequence[str]) -> str:
            return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

        out = [render(header), render(["-" * w for w in widths])] + [render(line) for line in lines]
    return "\n".join(out + ([""] + failures if failures else []))


def _method_name(fields: Mapping[str, Any], label: str) -> str:
    """'bc sidetune base=curvature' (+ the label's [differing keys]): a group's name without its data size."""
    name = f"{fields.get('kind')} {fields.get('method')} base={fields.get('base')}"
    suffix = label[len(group_label(fields)) :]
    return name + suffix


def compare_groups(
    entries: Sequence[dict[str, Any]], target: str, metric: str = "success", **bootstrap: Any
) -> list[Comparison]:
    """Groups of ``target`` minus every other trained group of the same kind and data size.

    ``target`` is a method ('sidetune': one comparison set per base) or a method and base ('features
    base=curvature', e.g. against features on a random base). Others are groups on the target's base or on
    a random base, and the base-free methods (scratch, blind); seeds are the runs of a group, paired with the
    target by episode id (agents/evaluation/stats.py). PairingError if two runs name the same episode id for different
    episodes (evaluated on different episode sets).
    """
    if metric not in COMPARED_METRICS:
        raise BadInputError(f"metric {metric!r} is not compared; choose one of {COMPARED_METRICS}")
    ok = [e for e in entries if e["status"] == "ok" and e["result"].get("kind") != "reference"]
    table: dict[str, dict[tuple[str, Any], dict[str, dict[str, float]]]] = {}
    fields_of: dict[str, Mapping[str, Any]] = {}
    seen: dict[str, tuple[str, float]] = {}
    for entry, label in zip(ok, _labels(ok), strict=False):
        r = entry["result"]
        name = _method_name(r, label)
        fields_of[name] = r
        runs = table.setdefault(str(r.get("kind")), {}).setdefault((name, r.get("data")), {})
        for ep in r["per_episode"]:
            where = (ep["building"], round(float(ep["start_distance"]), 3))
            if seen.setdefault(ep["episode_id"], where) != where:
                raise PairingError(
                    f"{entry['run']}: episode id {ep['episode_id']} is {where}, "
                    f"another run's is {seen[ep['episode_id']]}; "
                    f"evaluate every run on the same episode set (same env.episodes and eval.episodes_per_building)"
                )
        runs[entry["run"]] = {ep["episode_id"]: float(ep[metric]) for ep in r["per_episode"]}
    out: list[Comparison] = []

    def is_target(name: str) -> bool:
        return fields_of[name].get("method") == target or name.split(" ", 1)[1] == target

    for kind_table in table.values():
        for t in dict.fromkeys(n for n, _ in kind_table if is_target(n)):
            base = fields_of[t].get("base")

            def compared(name: str, base: Any = base) -> bool:
                f = fields_of[name]
                return not is_target(name) and (f.get("base") in (base, "random") or base_free(f.get("method")))

            keep = {k: v for k, v in kind_table.items() if k[0] == t or compared(k[0])}
            out += compare_methods(keep, t, **bootstrap)
    return out


def policy_entry(folder: Path, with_training: bool = False, at: int | None = None) -> dict[str, Any]:
    """An eval_report entry of a finished BC/PPO run folder from the stored held-out evaluation of its final
    checkpoint (a later eval.json that scored it, else the trainer's; agents/evaluation/run_folder.py), naming it
    as ``evaluation_source`` and why an eval.json was passed over as ``evaluation_ignored``; with
    ``with_training`` the entry also keeps the run's results (``RunResults``, None when absent) as ``training``.
    ``at``: the run's evaluation at that many frames (a PPO milestone); its final α is then not kept."""
    run = read_run_folder(folder, at)
    if run.evaluation is None or "per_episode" not in run.evaluation:
        reason = run.chosen.ignored or "train.final_eval=false?; run scripts/evaluate.py on it"
        raise BadInputError(f"{folder} has no held-out evaluation of its final checkpoint ({reason})")
    entry = {
        "run": str(folder),
        "status": "ok",
        "result": {**run.summary, **run.evaluation},
        "config": run.config,
        "evaluation_source": run.chosen.source,
        "evaluation_ignored": run.chosen.ignored,
    }
    return {**entry, "training": run.results if at is None else None} if with_training else entry
