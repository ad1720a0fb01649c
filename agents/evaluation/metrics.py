"""Summary statistics with 95% confidence intervals for evaluation results.

Success is a proportion, so it gets a Wilson score interval (well behaved at 0% and 100%, unlike the
normal approximation). SPL, final distance, reward and collisions are means of skewed, often zero-inflated
per-episode values, so they get a percentile bootstrap interval with a fixed resampling seed: the same
episodes always give the same interval (evaluation must be deterministic end to end).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from agents.run.trainers import trainer_of_config

Z95 = 1.959963984540054  # two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
KEPT_RESAMPLE_INDICES = 8_000_000  # resamples x values up to which the draws are kept: 64 MB of indices


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (successes out of n); (nan, nan) when n == 0."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact ends (no 1e-17 rounding residue)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (fixed seed, so deterministic); (nan, nan) when empty."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1 or np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    if resamples * x.size <= KEPT_RESAMPLE_INDICES:
        means = x[_resample_indices(x.size, resamples, seed)].mean(axis=1)
    else:
        means = np.concatenate([x[idx].mean(axis=1) for idx in _draw_resample_indices(x.size, resamples, seed)])
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return (float(lo), float(hi))


def _draw_resample_indices(size: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The indices each replicate draws from ``size`` values, in chunks of about 2M draws (which bound memory, and
    which the generator's stream depends on)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // size)
    for start in range(0, resamples, chunk):
        yield rng.integers(0, size, size=(min(resamples, start + chunk) - start, size))


@lru_cache(maxsize=4)
def _resample_indices(size: int, resamples: int, seed: int) -> np.ndarray:
    """int64[resamples, size]: all of ``_draw_resample_indices``, kept (read-only) for the next interval over as
    many values. They depend on nothing else, and every run's summary has the same episode count; drawing them
    costs three quarters of an interval's time."""
    indices = np.concatenate(list(_draw_resample_indices(size, resamples, seed)))
    indices.setflags(write=False)
    return indices


def summarize_success(values: Iterable[float]) -> dict[str, Any]:
    """Mean success rate with a Wilson 95% interval."""
    x = np.asarray(list(values), dtype=np.float64)
    n = int(x.size)
    mean = float(x.mean()) if n else math.nan
    return {"mean": mean, "ci95": list(wilson_interval(float(x.sum()), n)), "n": n, "ci_method": "wilson"}


def summarize_mean(values: Iterable[float]) -> dict[str, Any]:
    """Mean of finite values with a percentile-bootstrap 95% interval and the standard deviation."""
    x = np.asarray(list(values), dtype=np.float64)
    finite = x[np.isfinite(x)]
    n = int(finite.size)
    return {
        "mean": float(finite.mean()) if n else math.nan,
        "ci95": list(bootstrap_interval(finite)),
        "std": float(finite.std(ddof=1)) if n > 1 else 0.0,
        "n": n,
        "n_nonfinite": int(x.size - n),
        "ci_method": "bootstrap",
    }


def summarize_episodes(per_episode: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The summary block of an evaluation: success (Wilson), spl/distance/reward/collisions (bootstrap)."""

    def column(key: str) -> list[float]:
        return [float(ep[key]) for ep in per_episode]

    return {
        "success": summarize_success(column("success")),
        "spl": summarize_mean(column("spl")),
        "distance_to_goal": summarize_mean(column("distance_to_goal")),
        "reward": summarize_mean(column("reward")),
        "collisions": summarize_mean(column("collisions")),
    }


def run_summary(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What a results table groups by: trainer kind, method, base and data size (trajectories or frames)."""
    c = cfg if isinstance(cfg, dict) else _plain(cfg)
    policy = c.get("policy") or {}
    trainer = trainer_of_config(c)
    kind = trainer.name if trainer is not None else "policy"
    data = None
    if trainer is not None and trainer.data_key:
        section, key = trainer.data_key.split(".")
        data = (c.get(section) or {}).get(key)
    return {
        "kind": kind,
        "method": "blind" if policy.get("blind") else policy.get("method"),
        "base": policy.get("base"),
        "data": data,
        "run_seed": (c.get("run") or {}).get("seed"),
    }


def _plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of a DictConfig or mapping (without importing the config loader's dependencies)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)
