"""The seed x episode paired bootstrap on synthetic data with known answers (agents/evaluation/stats.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.evaluation import stats
from agents.evaluation.stats import (
    PairingError,
    bootstrap_mean,
    compare_methods,
    format_comparisons,
    paired_bootstrap,
)

SEEDS, EPISODES = 6, 420
TAIL = (1.0 - 0.95) / 2.0  # the intervals' lower quantile, computed as the code under test computes it
VAR_SEED, VAR_EPISODE, VAR_NOISE = 0.02**2, 0.05**2, 0.3**2  # per-method seed, method x episode and residual variances


def synthetic(
    rng: np.random.Generator, shift: float, difficulty: np.ndarray, seeds: int = SEEDS
) -> dict[int, dict[str, float]]:
    """y[s, e] = shift + difficulty[e] + seed effect + method x episode effect + noise, as {seed: {id: y}}."""
    episodes = len(difficulty)
    y = (
        shift
        + difficulty[None, :]
        + rng.normal(0, math.sqrt(VAR_SEED), (seeds, 1))
        + rng.normal(0, math.sqrt(VAR_EPISODE), (1, episodes))
        + rng.normal(0, math.sqrt(VAR_NOISE), (seeds, episodes))
    )
    return {s: {str(e): float(y[s, e]) for e in range(episodes)} for s in range(seeds)}


def true_sd(seeds: int = SEEDS, episodes: int = EPISODES) -> float:
    """Standard deviation of mean(A) - mean(B) under `synthetic` (the shared difficulty cancels)."""
    return math.sqrt(2 * VAR_SEED / seeds + 2 * VAR_EPISODE / episodes + 2 * VAR_NOISE / (seeds * episodes))


def test_identical_methods_interval_contains_zero_with_the_right_width() -> None:
    rng = np.random.default_rng(1)
    difficulty = rng.normal(0, 0.4, EPISODES)  # large shared episode difficulty
    widths, covered = [], 0
    for _ in range(40):
        d = paired_bootstrap(synthetic(rng, 0.0, difficulty), synthetic(rng, 0.0, difficulty), resamples=2000)
        covered += d.ci95[0] <= 0.0 <= d.ci95[1]
        widths.append((d.ci95[1] - d.ci95[0]) / (2 * 1.96))
    assert covered >= 36  # nominal 95%: 38 of 40; the bootstrap is conservative, never much below
    ratio = float(np.mean(widths)) / true_sd()
    assert 0.85 < ratio < 1.5, ratio  # about the analytic width (conservative by the residual counted twice)


def test_known_shift_is_recovered() -> None:
    rng = np.random.default_rng(2)
    difficulty = rng.normal(0, 0.4, EPISODES)
    d = paired_bootstrap(synthetic(rng, 0.1, difficulty), synthetic(rng, 0.0, difficulty), names=("up", "base"))
    assert d.ci95[0] < 0.1 < d.ci95[1]
    assert d.excludes_zero() and d.ci95[0] > 0.0
    assert abs(d.mean - 0.1) < 3 * true_sd()
    assert (d.seeds_a, d.seeds_b, d.episodes, d.paired) == (SEEDS, SEEDS, EPISODES, True)


def test_pairing_narrows_the_interval() -> None:
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 0.4, EPISODES)
    a, b = synthetic(rng, 0.05, difficulty), synthetic(rng, 0.0, difficulty)
    paired = paired_bootstrap(a, b)
    unpaired = paired_bootstrap(a, b, paired=False)
    assert paired.mean == pytest.approx(unpaired.mean)
    width = lambda d: d.ci95[1] - d.ci95[0]  # noqa: E731
    assert width(paired) < 0.6 * width(unpaired)
    assert paired.excludes_zero()


def test_binary_success_sees_a_five_point_difference_with_420_episodes_and_6_seeds() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(0.2, 0.95, EPISODES)  # per-episode success probability (shared difficulty)

    def draw(shift):
        return {
            s: {str(e): float(rng.random() < min(1.0, p[e] + shift)) for e in range(EPISODES)} for s in range(SEEDS)
        }

    d = paired_bootstrap(draw(0.08), draw(0.0))
    assert d.excludes_zero()
    assert (d.ci95[1] - d.ci95[0]) / 2 < 0.05  # the half-width is below 0.05


def test_deterministic_and_order_free() -> None:
    rng = np.random.default_rng(5)
    difficulty = rng.normal(0, 0.4, 50)
    a, b = synthetic(rng, 0.0, difficulty, seeds=3), synthetic(rng, 0.0, difficulty, seeds=3)
    shuffled = {s: dict(reversed(list(v.items()))) for s, v in a.items()}
    assert paired_bootstrap(a, b, resamples=500) == paired_bootstrap(shuffled, b, resamples=500)
    assert paired_bootstrap(a, b, resamples=500, seed=1) != paired_bootstrap(a, b, resamples=500, seed=2)


def _fresh_paired_interval(
    a: dict[int, dict[str, float]], b: dict[int, dict[str, float]], paired: bool, resamples: int, seed: int
) -> tuple[float, float]:
    """The seeds-then-episodes interval from a generator seeded afresh, drawn in paired_bootstrap's order: the
    episodes (twice when unpaired), A's seeds, B's seeds."""
    ids = sorted(next(iter(a.values())), key=int)
    ya = np.array([[run[e] for e in ids] for run in a.values()])
    yb = np.array([[run[e] for e in ids] for run in b.values()])
    rng = np.random.default_rng(seed)

    def counts(n: int) -> np.ndarray:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)

    episodes_a = counts(len(ids))
    episodes_b = episodes_a if paired else counts(len(ids))
    means = []
    for y, episodes in ((ya, episodes_a), (yb, episodes_b)):
        seeds = counts(len(y))
        means.append(((episodes @ y.T) * seeds).sum(axis=1) / (seeds.sum(axis=1) * episodes.sum(axis=1)))
    lo, hi = np.quantile(means[0] - means[1], [TAIL, 1 - TAIL])
    return float(lo), float(hi)


def test_kept_draws_give_the_intervals_of_a_fresh_generator() -> None:
    rng = np.random.default_rng(8)
    difficulty = rng.normal(0, 0.4, 60)
    a, b, c = (synthetic(rng, shift, difficulty, seeds=n) for shift, n in ((0.1, 3), (0.0, 3), (0.05, 6)))
    stats._bootstrap_draws.cache_clear()
    cases = [(a, b, True, 0), (a, c, True, 0), (a, b, False, 0), (a, b, True, 0), (a, b, True, 1), (c, b, True, 0)]
    for first, second, paired, seed in cases:
        kept = paired_bootstrap(first, second, paired=paired, resamples=1_000, seed=seed)
        assert kept.ci95 == _fresh_paired_interval(first, second, paired, 1_000, seed)
    assert stats._bootstrap_draws.cache_info().hits == 1  # the fourth case reused the first one's draws
    _, interval = bootstrap_mean(c, resamples=1_000)
    ids = sorted(next(iter(c.values())), key=int)
    y = np.array([[run[e] for e in ids] for run in c.values()])
    fresh = np.random.default_rng(0)
    episodes = fresh.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=1_000).astype(np.float64)
    seeds = fresh.multinomial(len(y), np.full(len(y), 1 / len(y)), size=1_000).astype(np.float64)
    means = ((episodes @ y.T) * seeds).sum(axis=1) / (seeds.sum(axis=1) * episodes.sum(axis=1))
    assert interval == tuple(float(q) for q in np.quantile(means, [TAIL, 1 - TAIL]))
    assert not any(w.flags.writeable for w in stats._bootstrap_draws(0, 1_000, (60, 3, 3)))


def test_mismatched_episodes_are_an_error_naming_the_run() -> None:
    a = {0: {"1": 1.0, "2": 0.0}}
    b = {0: {"1": 1.0, "2": 1.0}, 7: {"1": 1.0, "3": 0.0}}
    with pytest.raises(PairingError, match=r"sidetune run 7: episode ids differ.*'2'"):
        paired_bootstrap(a, b, names=("features", "sidetune"))
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap({0: {"1": float("nan")}}, {0: {"1": 1.0}})


def test_compare_methods_per_data_size_and_best_other() -> None:
    rng = np.random.default_rng(6)
    difficulty = rng.normal(0, 0.4, 100)
    table = {
        ("sidetune", 49): synthetic(rng, 0.30, difficulty, seeds=3),
        ("features", 49): synthetic(rng, 0.50, difficulty, seeds=3),
        ("scratch", 49): synthetic(rng, 0.10, difficulty, seeds=3),
        ("sidetune", 490): synthetic(rng, 0.70, difficulty, seeds=3),
        ("features", 490): synthetic(rng, 0.40, difficulty, seeds=3),
        ("features", 4900): synthetic(rng, 0.40, difficulty, seeds=3),  # no sidetune: skipped
    }
    rows = compare_methods(table, "sidetune", resamples=1000)
    assert [(c.data, c.other, c.best_other) for c in rows] == [
        (49, "features", True),
        (49, "scratch", False),
        (490, "features", True),
    ]
    at49 = rows[0].difference
    assert at49.mean == pytest.approx(-0.2, abs=0.1) and at49.ci95[1] < 0
    text = format_comparisons(rows, "success")
    assert "sidetune - features" in text and "best other" in text and "excludes 0" in text
    assert format_comparisons(rows, "success", markdown=True).count("\n") == len(rows) + 1


def _entry(method: str, base: str, data: int, seed: int, success: np.ndarray, buildings: int = 14) -> dict:
    """An evaluated BC run as agents.evaluation.eval_report sees it."""
    per_episode = [
        {
            "episode_id": str(i),
            "building": f"b{i % buildings}",
            "start_distance": 1.0 + i / 100,
            "success": float(s),
            "spl": 0.5 * float(s),
            "reward": 10.0 * float(s),
        }
        for i, s in enumerate(success)
    ]
    config = {"policy": {"method": method, "base": base}, "bc": {"trajectories": data}, "run": {"seed": seed}}
    result = {"kind": "bc", "method": method, "base": base, "data": data, "run_seed": seed, "per_episode": per_episode}
    return {"run": f"runs/bc/{method}-{base}-{data}-seed{seed}", "status": "ok", "result": result, "config": config}


def test_compare_groups_pairs_runs_by_episode_and_keeps_to_the_targets_base() -> None:
    from agents.evaluation.eval_report import compare_groups

    rng = np.random.default_rng(7)
    p = rng.uniform(0.1, 0.9, 420)
    draw = lambda shift: (rng.random(420) < np.clip(p + shift, 0, 1)).astype(float)  # noqa: E731
    entries = [_entry("sidetune", "curvature", 49, s, draw(0.15)) for s in range(3)]
    entries += [_entry("features", "curvature", 49, s, draw(0.0)) for s in range(3)]
    entries += [_entry("features", "random", 49, s, draw(-0.1)) for s in range(2)]
    entries += [_entry("features", "denoising", 49, s, draw(0.3)) for s in range(2)]  # another base: not compared
    entries += [_entry("scratch", "denoising", 49, s, draw(-0.2)) for s in range(2)]  # base-free: compared
    entries += [_entry("features", "curvature", 490, 0, draw(0.0))]  # no sidetune at 490: no row
    rows = compare_groups(entries, "sidetune", "success", resamples=1000)
    assert [(c.data, c.other, c.best_other) for c in rows] == [
        (49, "bc features base=curvature", True),
        (49, "bc features base=random", False),
        (49, "bc scratch base=denoising", False),
    ]
    best = rows[0].difference
    assert (best.seeds_a, best.seeds_b, best.episodes) == (3, 3, 420) and best.excludes_zero()
    assert abs(best.mean - 0.15) < 0.06
    assert compare_groups(entries, "sidetune", "reward", resamples=1000)[0].difference.mean == pytest.approx(
        10 * best.mean
    )

    prior = compare_groups(entries, "features base=curvature", "success", resamples=1000)  # the head pilot's gap
    assert {c.target for c in prior} == {"bc features base=curvature"}
    by_other = {c.other: c for c in prior if c.data == 49}
    assert set(by_other) == {"bc sidetune base=curvature", "bc features base=random", "bc scratch base=denoising"}
    assert by_other["bc features base=random"].difference.mean == pytest.approx(0.1, abs=0.06)
    assert by_other["bc sidetune base=curvature"].best_other

    moved = _entry("features", "curvature", 49, 9, draw(0.0), buildings=13)  # same ids, other episodes
    with pytest.raises(PairingError, match="features-curvature-49-seed9: episode id"):
        compare_groups(entries + [moved], "sidetune", "success", resamples=1000)
