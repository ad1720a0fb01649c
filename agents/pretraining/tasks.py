"""Pretraining tasks as registered specs: what a base encoder learns to predict, and everything that differs
between tasks (the labels rendered with the images, the batch, the loss, the trivial baseline, the decoder's
channels, the figure's panels), so a new task is one ``register_pretrain_task`` call.

The shipped bases are named by their task (``policies/weights/{task}_{arch}.pth``): ``policies.bases`` reads
the names here. Training mirrors images left-right, so a task's labels must be mirror-invariant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.pretraining.curvature import curvature_targets, decode_curvature, encode_curvature, smoothing_window
from agents.pretraining.noise import corrupt
from common.registry import Registry

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # (input, target, mask or None)
Panel = tuple[str, np.ndarray]  # (column title, [N, 3, H, W] images or [N, H, W] maps, both in [-1, 1])


@dataclass(frozen=True)
class PretrainTask:
    """One pretraining task.

    - ``sensors``: renderer outputs the labels need besides 'rgb';
    - ``labels(render, focal)``: the stored per-pixel labels of a rendered chunk (compact, e.g. int8), or None
      when the targets come from the image itself;
    - ``batch(clean, labels, generator)``: (input, target, mask or None) from clean images in [-1, 1];
    - ``loss(pred, target, mask)``: the training and held-out loss; ``loss_text(resolution)`` says it in words;
    - ``trivial(target, mean_image)``: the prediction of the non-learned baseline named ``trivial_name``;
    - ``input_baseline``: the name of returning the input as the prediction, reported beside the model when the
      input is a corrupted target (None: not reported);
    - ``distill_loss``: the loss ('l2' or 'l1') a side network distilled from this task's base uses;
    - ``panels(decoded, clean, labels, input)``: the figure's columns for a few held-out images;
      ``figure_note``: what the figure's title says about them ('' for nothing).
    """

    name: str
    description: str
    out_channels: int
    sensors: tuple[str, ...]
    labels: Callable[[dict[str, np.ndarray], float], np.ndarray] | None
    batch: Callable[[torch.Tensor, np.ndarray | None, torch.Generator | None], Batch]
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
    loss_text: Callable[[int], str]
    trivial_name: str
    trivial: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    input_baseline: str | None
    distill_loss: str
    panels: Callable[[torch.Tensor, torch.Tensor, np.ndarray | None, torch.Tensor], list[Panel]]
    figure_note: str = ""


PRETRAIN_TASKS: Registry[PretrainTask] = Registry("pretraining task")
register_pretrain_task = PRETRAIN_TASKS.register
pretrain_task_names = PRETRAIN_TASKS.names


def pretrain_task(name: str) -> PretrainTask:
    """The spec of task ``name``; ValueError listing the registered tasks when there is none."""
    spec = PRETRAIN_TASKS.get(name)
    if spec is None:
        raise ValueError(f"unknown pretraining task {name!r}; choose one of {pretrain_task_names()}")
    return spec


# ------------------------------------------------------------------ curvature
def _curvature_labels(render: dict[str, np.ndarray], focal: float) -> np.ndarray:
    return encode_curvature(*curvature_targets(render["depth"], render["normals"], focal))


def _curvature_batch(clean: torch.Tensor, codes: np.ndarray | None, generator: torch.Generator | None) -> Batch:
    target, mask = decode_curvature(codes)
    return clean, torch.from_numpy(target), torch.from_numpy(mask)


def _masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over valid pixels and channels."""
    err = (pred - target) ** 2 * mask
    return err.sum() / (mask.sum() * pred.shape[1]).clamp_min(1.0)


def _curvature_panels(
    decoded: torch.Tensor, clean: torch.Tensor, codes: np.ndarray | None, model_input: torch.Tensor
) -> list[Panel]:
    target, mask = decode_curvature(codes)
    pred = decoded.numpy()
    unlabelled = mask[:, 0] == 0  # shown black

    def masked(a: np.ndarray) -> np.ndarray:
        return np.ma.masked_where(unlabelled, a)

    return [
        ("target k1", masked(target[:, 0])),
        ("decoded k1", pred[:, 0]),
        ("target k2", masked(target[:, 1])),
        ("decoded k2", pred[:, 1]),
    ]


# ------------------------------------------------------------------ denoising
def _denoising_batch(clean: torch.Tensor, labels: np.ndarray | None, generator: torch.Generator | None) -> Batch:
    return corrupt(clean, generator), clean, None


def _l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return (pred - target).abs().mean()


def _denoising_panels(
    decoded: torch.Tensor, clean: torch.Tensor, labels: np.ndarray | None, model_input: torch.Tensor
) -> list[Panel]:
    return [
        ("noisy input", model_input.numpy()),
        ("target (clean)", clean.numpy()),
        ("decoded", decoded.clamp(-1, 1).numpy()),
    ]


for _task in (
    PretrainTask(
        name="curvature",
        description="the two principal curvatures of the visible surfaces (curvature.py), windowed tanh targets",
        out_channels=2,
        sensors=("depth", "normals"),
        labels=_curvature_labels,
        batch=_curvature_batch,
        loss=_masked_mse,
        loss_text=lambda resolution: (
            f"masked MSE on tanh(0.25 m * k), {smoothing_window(resolution)}x{smoothing_window(resolution)} window mean"
        ),
        trivial_name="zero curvature",
        trivial=lambda target, mean_image: torch.zeros_like(target),
        input_baseline=None,
        distill_loss="l2",
        panels=_curvature_panels,
        figure_note="curvature: tanh(0.25 m·k), red convex, blue concave, black = occlusion edge, unlabelled",
    ),
    PretrainTask(
        name="denoising",
        description="the clean image from a blurred, noisy one (noise.py)",
        out_channels=3,
        sensors=(),
        labels=None,
        batch=_denoising_batch,
        loss=_l1,
        loss_text=lambda resolution: "L1 on the clean image in [-1, 1]",
        trivial_name="mean image",
        trivial=lambda target, mean_image: mean_image.expand_as(target),
        input_baseline="noisy input",
        distill_loss="l1",
        panels=_denoising_panels,
    ),
):
    register_pretrain_task(_task)
