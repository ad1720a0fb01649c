"""Linear probes of frozen base features on held-out frames: what does a base know about the 3-D scene?

Frames come from agents/pretraining/dataset.py (``render_set``, held-out buildings, uniform navigable poses,
with depth). Two targets per frame:

- **8x8 log depth**: the z-depth image in metres, clipped to [0.1, 20], log, averaged over an 8x8 grid of
  blocks (64 numbers per frame);
- **free space ahead**: how far the agent can walk straight ahead (along its heading, in 2 cm steps, its
  centre staying in navigable cells, i.e. its 0.15 m body touching nothing) before it would hit an
  obstacle, in metres, capped at ``FREE_CAP`` = 5 m. It is computed from the building's navigable grid, not
  from the image, so it is what a MOVE_FORWARD sequence would achieve.

Features: the base's output [8, H/16, W/16] flattened (eval mode, no gradients), or the image itself
averaged to 8x8 per channel ("raw 8x8-pooled pixels": 192 numbers). The probe is ridge regression in
closed form on standardised features; frames are split **by building** (no building in two parts:
the probe must generalise to unseen buildings), the ridge strength is chosen on the validation buildings
from ``LAMBDAS``, refitted on train + validation and scored on the test buildings; the R² is averaged over
``SPLITS`` such building splits (3 test buildings are few). The score is R² pooled over the targets:
1 - sum of squared errors / sum of squares about the training mean (1: perfect, 0: no better than it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.pretraining.dataset import PretrainSet, render_set
from envs.config import EnvConfig
from envs.factory import navigable_cells
from policies.contract import uint8_to_unit_range

DEPTH_CELLS = 8
DEPTH_RANGE = (0.1, 20.0)  # metres; depth is clipped to this before the log
FREE_CAP = 5.0  # metres
FREE_STEP = 0.02  # metres between the points checked along the heading
LAMBDAS = tuple(float(x) for x in np.logspace(-2, 5, 15))  # ridge strengths tried (on standardised features)
SPLIT = (0.6, 0.2, 0.2)  # fractions of buildings: train, validation, test
SPLITS = 5  # building splits averaged (14 held-out buildings: 8 train, 3 validation, 3 test each time)


@dataclass
class ProbeTargets:
    """Per-frame targets: ``log_depth`` float64[N, 64] and ``free_ahead`` float64[N, 1] (metres)."""

    log_depth: np.ndarray
    free_ahead: np.ndarray


def pooled_log_depth(depth: np.ndarray, cells: int = DEPTH_CELLS) -> np.ndarray:
    """float64[N, cells²]: the block means of log(clipped depth) of ``depth`` float[N, 1, H, W]."""
    n, _, h, w = depth.shape
    if h % cells or w % cells:
        raise ValueError(f"depth {h}x{w} is not divisible into {cells}x{cells} blocks")
    logd = np.log(np.clip(depth[:, 0].astype(np.float64), *DEPTH_RANGE))
    return logd.reshape(n, cells, h // cells, cells, w // cells).mean(axis=(2, 4)).reshape(n, cells * cells)


def free_space_ahead(
    navigable: np.ndarray,
    cell_size: float,
    positions: np.ndarray,
    headings: np.ndarray,
    cap: float = FREE_CAP,
    step: float = FREE_STEP,
) -> np.ndarray:
    """float64[N]: distance walkable straight ahead from each pose before leaving navigable cells (capped)."""
    steps = np.arange(1, int(round(cap / step)) + 1) * step  # [S]
    x = positions[:, :1] + np.cos(headings)[:, None] * steps  # [N, S]
    y = positions[:, 1:2] + np.sin(headings)[:, None] * steps
    i, j = np.floor(y / cell_size).astype(int), np.floor(x / cell_size).astype(int)
    inside = (i >= 0) & (i < navigable.shape[0]) & (j >= 0) & (j < navigable.shape[1])
    free = inside & navigable[np.clip(i, 0, navigable.shape[0] - 1), np.clip(j, 0, navigable.shape[1] - 1)]
    blocked = ~free
    first = np.where(blocked.any(axis=1), blocked.argmax(axis=1), len(steps))  # index of the first blocked point
    return np.where(first < len(steps), first * step, cap)


def probe_targets(frames: PretrainSet, config: EnvConfig) -> ProbeTargets:
    """The two probe targets of frames rendered with depth and poses (``render_set(..., depth=True)``)."""
    if frames.depth is None or frames.positions is None or frames.headings is None:
        raise ValueError("probe frames need depth and poses: render them with render_set(..., depth=True)")
    free = np.empty(len(frames))
    names = np.asarray(frames.buildings)
    for name in np.unique(names):
        rows = np.flatnonzero(names == name)
        navigable, cell_size = navigable_cells(config, str(name))
        free[rows] = free_space_ahead(navigable, cell_size, frames.positions[rows], frames.headings[rows])
    return ProbeTargets(log_depth=pooled_log_depth(frames.depth), free_ahead=free[:, None])


def pixel_features(rgb: np.ndarray, cells: int = DEPTH_CELLS) -> np.ndarray:
    """float64[N, 3·cells²]: each channel of uint8 images [N, 3, H, W] averaged over a cells x cells grid."""
    n, c, h, w = rgb.shape
    return rgb.astype(np.float64).reshape(n, c, cells, h // cells, cells, w // cells).mean(axis=(3, 5)).reshape(n, -1)


@torch.no_grad()
def base_features(encoder: nn.Module, rgb: np.ndarray, batch: int = 128) -> np.ndarray:
    """float64[N, 8·H/16·W/16]: a frozen encoder's flattened output for uint8 images (eval mode, [-1, 1] input)."""
    encoder.eval()
    out = [encoder(uint8_to_unit_range(rgb[s : s + batch])).flatten(1) for s in range(0, len(rgb), batch)]
    return torch.cat(out).double().numpy()


def building_split(
    buildings: Sequence[str], seed: int, fractions: tuple[float, float, float] = SPLIT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, validation, test) with every building in exactly one part, shuffled by ``seed``."""
    names = np.asarray(buildings)
    unique = np.random.default_rng(seed).permutation(np.unique(names))
    if len(unique) < 3:
        raise ValueError(f"a building split needs at least 3 buildings, got {len(unique)}")
    n_test = max(1, round(fractions[2] * len(unique)))
    n_val = max(1, round(fractions[1] * len(unique)))
    parts = (unique[n_test + n_val :], unique[n_test : n_test + n_val], unique[:n_test])
    return tuple(np.flatnonzero(np.isin(names, part)) for part in parts)  # type: ignore[return-value]


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> Callable[[np.ndarray], np.ndarray]:
    """Closed-form ridge fit on standardised ``x`` (intercept unpenalised); returns the predictor."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (x - mu) / sd
    y_mean = y.mean(axis=0)
    w = np.linalg.solve(z.T @ z + lam * np.eye(z.shape[1]), z.T @ (y - y_mean))
    return lambda q: ((q - mu) / sd) @ w + y_mean


def pooled_r2(y: np.ndarray, pred: np.ndarray, reference_mean: np.ndarray) -> float:
    """1 - SSE / SS about ``reference_mean`` (the training mean), pooled over all target columns."""
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - reference_mean) ** 2).sum())


def ridge_probe(
    x: np.ndarray, y: np.ndarray, split: tuple[np.ndarray, np.ndarray, np.ndarray], lambdas: Sequence[float] = LAMBDAS
) -> dict[str, float]:
    """Test R² of ridge regression from ``x`` to ``y`` with the strength chosen on the validation part."""
    train, val, test = split
    scores = [pooled_r2(y[val], _ridge(x[train], y[train], lam)(x[val]), y[train].mean(axis=0)) for lam in lambdas]
    best = float(lambdas[int(np.argmax(scores))])
    fit_rows = np.concatenate([train, val])
    predict = _ridge(x[fit_rows], y[fit_rows], best)
    return {
        "r2": pooled_r2(y[test], predict(x[test]), y[fit_rows].mean(axis=0)),
        "lambda": best,
        "val_r2": float(max(scores)),
    }


def probe_features(
    x: np.ndarray, targets: ProbeTargets, splits: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> dict[str, Any]:
    """Both probes (log depth, free space ahead) from one feature matrix: test R² averaged over ``splits``."""
    out: dict[str, Any] = {"features": int(x.shape[1])}
    for key, y in (("log_depth", targets.log_depth), ("free_ahead", targets.free_ahead)):
        fits = [ridge_probe(x, y, split) for split in splits]
        out[key] = {"r2": float(np.mean([f["r2"] for f in fits])), "per_split": fits}
    return out


def render_probe_frames(num_frames: int, resolution: int, seed: int, config: EnvConfig | None = None) -> PretrainSet:
    """Held-out frames with depth and poses (the same poses at every resolution for one seed)."""
    return render_set("denoising", "heldout", num_frames, resolution, seed, config, depth=True)


def random_base(arch: str, seed: int) -> nn.Module:
    """A randomly initialised base of ``arch`` (PyTorch default initialisation under ``torch.manual_seed(seed)``)."""
    from policies.bases import build_base

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build_base(arch)


def probe_bases(
    frames: PretrainSet,
    bases: Sequence[str],
    arch: str = "compact",
    random_seeds: Sequence[int] = (0, 1, 2),
    splits: int = SPLITS,
    config: EnvConfig | None = None,
) -> list[dict[str, Any]]:
    """One row per feature set on ``frames``: each named or local base, random bases (one row per seed, and
    their mean), and raw 8x8-pooled pixels; R² averaged over ``splits`` building splits (seeds 0..splits-1)."""
    from policies.bases import load_base

    config = config or EnvConfig()
    targets = probe_targets(frames, config)
    parts = [building_split(frames.buildings, s) for s in range(splits)]
    rows = [
        {"features_of": name, **probe_features(base_features(load_base(name, arch), frames.rgb), targets, parts)}
        for name in bases
    ]
    randoms = [
        {
            "features_of": f"random init (seed {s})",
            **probe_features(base_features(random_base(arch, s), frames.rgb), targets, parts),
        }
        for s in random_seeds
    ]
    if randoms:
        mean = {key: {"r2": float(np.mean([r[key]["r2"] for r in randoms]))} for key in ("log_depth", "free_ahead")}
        rows.append(
            {"features_of": f"random init (mean of {len(randoms)})", "features": randoms[0]["features"], **mean}
        )
    rows.append({"features_of": "raw 8x8-pooled pixels", **probe_features(pixel_features(frames.rgb), targets, parts)})
    return rows + randoms


def denoising_vs_identity(
    frames: PretrainSet, weights: str = "denoising", arch: str = "compact", seed: int = 0
) -> dict[str, float]:
    """Held-out L1 of the denoising encoder + decoder vs returning the noisy input (same corruption, ``seed``)."""
    from agents.pretraining.figure import load_pair
    from agents.pretraining.train import evaluate

    path = None if weights == "denoising" else weights
    encoder, decoder, _ = load_pair("denoising", arch, path)
    mean_image = uint8_to_unit_range(frames.rgb.astype(np.float32).mean(axis=0))
    out = evaluate("denoising", encoder, decoder, frames, mean_image, seed)
    return {"model_l1": out["heldout_loss"], "identity_l1": out["identity_loss"], "mean_image_l1": out["trivial_loss"]}
