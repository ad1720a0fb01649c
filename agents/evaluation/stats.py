"""Paired comparisons of methods on the same held-out episodes: a seed x episode bootstrap of mean differences.

Every trained method is evaluated on the same fixed episodes (agents/evaluation/evaluate.py), by several training
seeds. An outcome ``y[m, s, e]`` (method m, seed s, episode e: success, SPL or reward) varies with the
training seed and with the episode's difficulty, and most of the episode part is shared by all methods.
``paired_bootstrap`` estimates ``mean(A) - mean(B)`` (each mean over its seeds and the episodes) and a 95%
percentile interval by resampling both levels in every replicate:

1. the seeds of A and the seeds of B, each with replacement (different methods' seeds are unrelated runs);
2. the episodes, with replacement, **once per replicate, shared by every seed of both methods**: pairing by
   episode id. Seeds and episodes are crossed (every seed runs every episode), so a hard episode drawn
   twice is drawn twice for A and for B and its difficulty cancels in the difference.

This is Owen's (2007) "pigeonhole" bootstrap for crossed designs; it is conservative (the seed x episode
noise enters through both levels): 1.07 to 1.80 times the true width in the simulations of
scripts/bootstrap_calibration.py (docs/evaluation.md). ``paired=False`` draws the episodes independently for A
and B (the unpaired interval, for comparison). ``compare_methods`` compares one named method with every other at
each data size and picks the best other by its mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from common.errors import UserError

RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
Runs = Mapping[Any, Mapping[str, float]]  # seed (or run) -> episode id -> outcome


class PairingError(UserError, ValueError):
    """Two methods' runs were not evaluated on the same episodes, so they cannot be paired."""


@dataclass(frozen=True)
class Difference:
    """mean(A) - mean(B) with its bootstrap interval; ``mean_a``/``mean_b`` are the two grand means."""

    mean: float
    ci95: tuple[float, float]
    mean_a: float
    mean_b: float
    seeds_a: int
    seeds_b: int
    episodes: int
    paired: bool

    def excludes_zero(self) -> bool:
        """True when the 95% interval lies entirely above or below 0."""
        return self.ci95[0] > 0.0 or self.ci95[1] < 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "mean": self.mean,
            "ci95": list(self.ci95),
            "mean_a": self.mean_a,
            "mean_b": self.mean_b,
            "seeds_a": self.seeds_a,
            "seeds_b": self.seeds_b,
            "episodes": self.episodes,
            "paired": self.paired,
        }


def outcome_matrix(runs: Runs, episode_ids: Sequence[str], name: str = "method") -> np.ndarray:
    """float64[seeds, episodes] of ``runs`` in the order of ``episode_ids``; PairingError if a run lacks one."""
    if not runs:
        raise PairingError(f"{name}: no runs to compare")
    rows = []
    for seed, outcomes in runs.items():
        missing = [e for e in episode_ids if e not in outcomes]
        extra = set(outcomes) - set(episode_ids)
        if missing or extra:
            raise PairingError(
                f"{name} run {seed!r}: episode ids differ from the other runs ({len(missing)} missing, e.g. "
                f"{missing[:3]}; {len(extra)} extra, e.g. {sorted(extra)[:3]}); evaluate every run on the same "
                f"episode set (same env.episodes and eval.episodes_per_building)"
            )
        rows.append([float(outcomes[e]) for e in episode_ids])
    matrix = np.asarray(rows, dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{name}: outcomes contain NaN or inf; compare finite metrics (success, spl, reward)")
    return matrix


def common_episodes(*groups: Runs) -> list[str]:
    """The sorted episode ids of the first run of the first group (every run must have exactly these)."""
    first = next(iter(groups[0].values()))
    return sorted(first, key=_id_order)


def _id_order(episode_id: str) -> tuple[int, Any]:
    """Numeric ids in numeric order, others after them alphabetically."""
    return (0, int(episode_id)) if str(episode_id).isdigit() else (1, str(episode_id))


def _seed_weights(rng: np.random.Generator, seeds: int, resamples: int) -> np.ndarray:
    """float64[resamples, seeds]: how often each of ``seeds`` items (seeds or episodes) is drawn with replacement
    in each replicate (sums to ``seeds``)."""
    return rng.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=resamples).astype(np.float64)


@lru_cache(maxsize=4)
def _bootstrap_draws(seed: int, resamples: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """``_seed_weights(rng, size, resamples)`` for each of ``sizes`` in turn, from a generator seeded with ``seed``.

    Every bootstrap starts a fresh generator from its seed, so these draws depend on nothing else: they are kept
    (read-only) for the next comparison of the same shape. A report's comparisons mostly share their episode and
    seed counts, and the draws (10,000 multinomials over 420 episodes) were a quarter of building one.
    """
    rng = np.random.default_rng(seed)
    draws = []
    for size in sizes:
        weights = _seed_weights(rng, size, resamples)
        weights.setflags(write=False)
        draws.append(weights)
    return tuple(draws)


def _percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates."""
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(replicates, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _replicate_means(y: np.ndarray, seed_w: np.ndarray, episode_w: np.ndarray) -> np.ndarray:
    """Grand mean of ``y[seeds, episodes]`` under each replicate's seed and episode counts -> float64[R]."""
    per_seed = episode_w @ y.T  # [R, seeds]: episode-weighted sums of each seed
    return (per_seed * seed_w).sum(axis=1) / (seed_w.sum(axis=1) * episode_w.sum(axis=1))


def paired_bootstrap(
    a: Runs,
    b: Runs,
    *,
    paired: bool = True,
    resamples: int = RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
    names: tuple[str, str] = ("A", "B"),
) -> Difference:
    """mean(A) - mean(B) over seeds and episodes with a seeds-then-episodes bootstrap interval (module doc).

    ``a`` and ``b`` map a seed (or run name) to ``{episode_id: outcome}``; every run of both must hold the
    same episode ids. Deterministic for a given ``seed``.
    """
    if resamples < 100:
        raise ValueError(f"resamples={resamples} is too few for a 95% interval (use >= 1000)")
    ids = common_episodes(a, b)
    ya, yb = outcome_matrix(a, ids, names[0]), outcome_matrix(b, ids, names[1])
    n = len(ids)
    # episodes drawn with replacement, as seeds are; then A's seeds, then B's
    if paired:
        episodes_a, seeds_a, seeds_b = _bootstrap_draws(seed, resamples, (n, len(ya), len(yb)))
        episodes_b = episodes_a
    else:
        episodes_a, episodes_b, seeds_a, seeds_b = _bootstrap_draws(seed, resamples, (n, n, len(ya), len(yb)))
    diffs = _replicate_means(ya, seeds_a, episodes_a) - _replicate_means(yb, seeds_b, episodes_b)
    lo, hi = _percentile_interval(diffs, level)
    mean_a, mean_b = float(ya.mean()), float(yb.mean())
    return Difference(mean_a - mean_b, (float(lo), float(hi)), mean_a, mean_b, len(ya), len(yb), n, paired)


def bootstrap_mean(
    runs: Runs, *, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """Grand mean of one method's runs over seeds and episodes, with the same seeds-then-episodes interval
    (for plotting one method; differences between methods use ``paired_bootstrap``)."""
    ids = common_episodes(runs)
    y = outcome_matrix(runs, ids)
    episode_w, seed_w = _bootstrap_draws(seed, resamples, (len(ids), len(y)))
    means = _replicate_means(y, seed_w, episode_w)
    lo, hi = _percentile_interval(means, level)
    return float(y.mean()), (float(lo), float(hi))


@dataclass(frozen=True)
class Comparison:
    """``target`` - ``other`` at one data size; ``best_other`` marks the other method with the highest mean."""

    data: Any
    target: str
    other: str
    difference: Difference
    best_other: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "data": self.data,
            "target": self.target,
            "other": self.other,
            "best_other": self.best_other,
            **self.difference.to_dict(),
        }


def compare_methods(
    table: Mapping[tuple[str, Any], Runs],
    target: str,
    **bootstrap: Any,
) -> list[Comparison]:
    """``target`` minus every other method at each data size of ``table[(method, data)]``.

    The best other method at a data size is the one with the highest grand mean (chosen after looking,
    so ``target - best other`` leans against the target). Data sizes without the target are skipped.
    """
    out: list[Comparison] = []
    for data in _ordered(data for _, data in table):
        if (target, data) not in table:
            continue
        others = [m for m, d in table if d == data and m != target]
        diffs = {
            m: paired_bootstrap(table[(target, data)], table[(m, data)], names=(target, m), **bootstrap) for m in others
        }
        best = max(others, key=lambda m: diffs[m].mean_b) if others else None
        out += [Comparison(data, target, m, diffs[m], m == best) for m in others]
    return out


def _ordered(values: Iterable[Any]) -> list[Any]:
    """Unique values, numbers ascending first, then the rest as strings."""
    unique = list(dict.fromkeys(values))
    numbers = sorted(v for v in unique if isinstance(v, (int, float)) and not isinstance(v, bool))
    return numbers + sorted((v for v in unique if v not in numbers), key=str)


def format_comparisons(comparisons: Sequence[Comparison], metric: str, markdown: bool = False) -> str:
    """A table: data size, target - other, mean difference [95% interval], both means, seeds, episodes."""
    header = ["data", "comparison", f"{metric} difference [95% CI]", "means", "seeds", "episodes", ""]
    lines = []
    for c in comparisons:
        d = c.difference
        lines.append(
            [
                str(c.data),
                f"{c.target} - {c.other}",
                f"{d.mean:+.3f} [{d.ci95[0]:+.3f}, {d.ci95[1]:+.3f}]",
                f"{d.mean_a:.3f} vs {d.mean_b:.3f}",
                f"{d.seeds_a} vs {d.seeds_b}",
                str(d.episodes),
                ("best other; " if c.best_other else "") + ("excludes 0" if d.excludes_zero() else "includes 0"),
            ]
        )
    if markdown:
        return "\n".join(
            ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(x) + " |" for x in lines]
        )
    widths = [max(len(x) for x in col) for col in zip(header, *lines, strict=False)]
    return "\n".join(
        "  ".join(x.ljust(w) for x, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, ["-" * w for w in widths], *lines]
    )
