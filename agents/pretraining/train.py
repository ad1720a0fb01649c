"""Pretrain a base encoder (with a throwaway decoder) for a registered task (tasks.py) on embedded-simulator images.

Writes three files next to each other (all atomically):
- ``out_path`` (e.g. ``policies/weights/curvature_compact.pth``): the encoder in the layout the base loader
  reads, ``{'state_dict': ...}``, plus metadata keys ``task``, ``arch``, ``resolution``;
- ``<stem>.decoder.pth``: the decoder (for pictures and further analysis, not needed by policies);
- ``<stem>.json``: provenance (seeds, sizes, steps, time), the training loss curve, and the held-out loss
  next to the task's trivial predictor's (and the input's, for a task whose input is a corrupted target).

Each task's batch, loss and baselines are its spec's (``agents.pretraining.tasks``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.pretraining.dataset import PretrainSet, render_set
from agents.pretraining.decoder import Decoder
from agents.pretraining.tasks import pretrain_task
from common.atomic_io import atomic_path, atomic_write_text
from common.errors import MissingFileError
from envs.config import EnvConfig
from policies.bases import build_base, canonical_arch
from policies.checkpoints import check_checkpoint_metadata, load_encoder_weights, save_encoder_weights
from policies.contract import check_image_size, uint8_to_unit_range

LEARNING_RATE = 1e-3
FINAL_LR_FRACTION = 0.05  # cosine decay to this fraction of the learning rate
EVAL_BATCH = 64


@dataclass
class PretrainResult:
    """What a pretraining run produced: the trained modules (eval mode), the metrics and the files written."""

    encoder: nn.Module
    decoder: nn.Module
    metrics: dict
    paths: dict[str, Path]


def side_paths(out_path: str | Path) -> tuple[Path, Path]:
    """(decoder path, provenance JSON path) that go with an encoder checkpoint path."""
    out = Path(out_path)
    stem = out.with_suffix("")
    return stem.with_name(stem.name + ".decoder.pth"), out.with_suffix(".json")


def make_batch(
    task: str, data: PretrainSet, rows: np.ndarray, generator: torch.Generator | None, flip: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(input, target, mask or None) for the images ``rows``; ``flip`` bool[B] mirrors images left-right."""
    rgb = data.rgb[rows]
    labels = data.labels[rows] if data.labels is not None else None
    if flip is not None and flip.any():  # every task's labels are mirror-invariant (tasks.py)
        rgb[flip] = rgb[flip][..., ::-1]
        if labels is not None:
            labels[flip] = labels[flip][..., ::-1]
    return pretrain_task(task).batch(uint8_to_unit_range(rgb), labels, generator)


def task_loss(task: str, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The task's loss (its spec's), averaged over valid pixels and channels."""
    return pretrain_task(task).loss(pred, target, mask)


@torch.no_grad()
def evaluate(task: str, encoder, decoder, data: PretrainSet, mean_image: torch.Tensor, seed: int) -> dict[str, float]:
    """Held-out loss of encoder+decoder and of trivial predictors (same corruption for all, from ``seed``)."""
    spec = pretrain_task(task)
    encoder.eval(), decoder.eval()
    gen = torch.Generator().manual_seed(seed)
    sums = {"model": 0.0, "trivial": 0.0, "identity": 0.0}
    weight = 0.0
    for s in range(0, len(data), EVAL_BATCH):
        rows = np.arange(s, min(s + EVAL_BATCH, len(data)))
        x, target, mask = make_batch(task, data, rows, gen)
        pred = decoder(encoder(x))
        trivial = spec.trivial(target, mean_image)
        w = float(mask.sum()) if mask is not None else float(len(rows))
        sums["model"] += float(spec.loss(pred, target, mask)) * w
        sums["trivial"] += float(spec.loss(trivial, target, mask)) * w
        if spec.input_baseline:
            sums["identity"] += float(spec.loss(x, target, mask)) * w
        weight += w
    encoder.train(), decoder.train()
    out = {"heldout_loss": sums["model"] / weight, "trivial_loss": sums["trivial"] / weight}
    if spec.input_baseline:
        out["identity_loss"] = sums["identity"] / weight  # the input itself: a strong non-learned baseline
    return out


def _save(encoder, decoder, out_path: Path, meta: dict, provenance: dict) -> None:
    """Encoder (loader layout + metadata), decoder and provenance JSON, each written atomically."""
    decoder_path, json_path = side_paths(out_path)
    with atomic_path(out_path) as tmp:
        save_encoder_weights(encoder, tmp)  # the canonical {'state_dict': ...} layout
        payload = torch.load(tmp, map_location="cpu", weights_only=True)
        torch.save({**payload, **meta}, tmp)
    with atomic_path(decoder_path) as tmp:
        torch.save({"state_dict": decoder.state_dict(), "out_channels": decoder.out_channels, **meta}, tmp)
    atomic_write_text(json_path, json.dumps(provenance, indent=2) + "\n")


def load_run(task: str, arch: str, path: str | Path, encoder: nn.Module, decoder: nn.Module) -> dict:
    """Load a previous run's encoder and decoder (same task and arch) into the modules; returns its provenance."""
    check_checkpoint_metadata(path, task=task, arch=arch)
    load_encoder_weights(encoder, path)
    decoder_path, json_path = side_paths(path)
    if not decoder_path.is_file():
        raise MissingFileError(f"cannot continue from {str(path)!r}: its decoder {str(decoder_path)!r} is missing")
    decoder.load_state_dict(torch.load(decoder_path, map_location="cpu", weights_only=True)["state_dict"])
    return json.loads(json_path.read_text()) if json_path.is_file() else {}


def pretrain_base(
    task: str,
    arch: str,
    resolution: int,
    num_images: int,
    steps: int,
    batch_size: int,
    seed: int,
    out_path: str | Path,
    progress: bool = True,
    heldout_images: int = 256,
    log_every: int = 25,
    config: EnvConfig | None = None,
    learning_rate: float = LEARNING_RATE,
    extra_provenance: dict | None = None,
    init_from: str | Path | None = None,
) -> PretrainResult:
    """Render, train encoder + decoder with Adam, evaluate on held-out buildings, write files atomically.

    `init_from`: continue from a previous run's files (encoder + decoder) instead of a random initialisation;
    its loss curve is prepended and its summary recorded (use another `seed` to see new images)."""
    spec = pretrain_task(task)
    arch = canonical_arch(arch)
    check_image_size(int(resolution), int(resolution), f"pretraining the {arch} base")
    if steps < 1 or batch_size < 1 or num_images < 1 or heldout_images < 1 or log_every < 1:
        raise ValueError(
            f"steps={steps}, batch_size={batch_size}, images={num_images}, heldout_images={heldout_images} and "
            f"log_every={log_every} must all be >= 1"
        )
    if not learning_rate > 0:
        raise ValueError(f"learning_rate={learning_rate} must be > 0")
    config = config or EnvConfig(resolution=int(resolution))
    started = time.perf_counter()
    train = render_set(task, "train", num_images, resolution, seed, config, progress)
    heldout = render_set(task, "heldout", heldout_images, resolution, seed, config, progress)
    render_s = time.perf_counter() - started

    torch.manual_seed(seed)
    encoder, decoder = build_base(arch), Decoder(spec.out_channels)
    previous = load_run(task, arch, init_from, encoder, decoder) if init_from is not None else None
    offset = int(previous.get("total_steps", previous.get("steps", 0))) if previous else 0
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))
    )
    mean_image = uint8_to_unit_range(train.rgb.mean(axis=0, dtype=np.float64).round())[None]  # a trivial prediction
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    curve, window = [], []
    bar = range(steps)
    if progress:
        from tqdm import tqdm

        bar = tqdm(bar, desc=f"pretrain {task} {arch}", unit="step")
    train_start = time.perf_counter()
    for step in bar:
        rows = rng.integers(0, len(train), batch_size)
        x, target, mask = make_batch(task, train, rows, gen, rng.random(batch_size) < 0.5)
        loss = task_loss(task, decoder(encoder(x)), target, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        window.append(float(loss.detach()))
        if len(window) == log_every or step == steps - 1:
            curve.append([offset + step + 1, float(np.mean(window))])
            window = []
            if progress:
                bar.set_postfix(loss=f"{curve[-1][1]:.4f}")
    train_s = time.perf_counter() - train_start
    metrics = evaluate(task, encoder, decoder, heldout, mean_image, seed + 1)
    metrics.update(train_loss=curve[-1][1], steps=steps, steps_per_s=steps / train_s)
    meta = {"task": task, "arch": arch, "resolution": int(resolution)}
    provenance = {
        **meta,
        "data_seed": int(seed),
        "catalogue_seed": int(config.catalogue_seed),
        "train_images": int(num_images),
        "train_buildings": len(set(train.buildings)),
        "heldout_images": int(heldout_images),
        "heldout_buildings": sorted(set(heldout.buildings)),
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "loss": spec.loss_text(int(resolution)),
        "render_seconds": round(render_s, 1),
        "train_seconds": round(train_s, 1),
        **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()},
        "total_steps": offset + steps,
        "init_from": None
        if init_from is None
        else {
            "path": str(init_from),
            **{
                k: previous.get(k)
                for k in ("data_seed", "train_images", "steps", "total_steps", "heldout_loss", "trivial_loss")
            },
        },
        "loss_curve": (previous.get("loss_curve", []) if previous else []) + [[s, round(v, 6)] for s, v in curve],
        **(extra_provenance or {}),
    }
    _save(encoder, decoder, Path(out_path), meta, provenance)
    decoder_path, json_path = side_paths(out_path)
    paths = {"encoder": Path(out_path), "decoder": decoder_path, "provenance": json_path}
    return PretrainResult(encoder.eval(), decoder.eval(), metrics, paths)
