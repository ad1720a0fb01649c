"""Pretraining images rendered from the embedded simulator at random navigable poses, deterministic from a seed.

The training set comes from the catalogue's **training** buildings only; the evaluation set from the
**held-out** buildings, used for evaluation and pictures only (never for a gradient step). Poses: a building
drawn uniformly from the split, a navigable cell (agent radius from the config) uniformly in it, a uniform
point inside that cell and a uniform heading. Everything is kept in memory (uint8 images and the task's compact
labels, e.g. int8 curvature codes: about 80 KB per 128x128 image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.pretraining.tasks import pretrain_task
from envs.config import EnvConfig
from envs.factory import building_names, make_pose_renderer, navigable_cells

CHUNK = 64  # images rendered (and labelled) per call, bounding temporary memory


@dataclass
class PretrainSet:
    """Rendered images and the task's stored labels; ``buildings`` names the source of each image."""

    rgb: np.ndarray  # uint8[N,3,H,W]
    labels: np.ndarray | None  # the task's labels per image (curvature: int8[N,2,H,W] codes); None: from rgb
    buildings: list[str]
    split: str
    seed: int
    positions: np.ndarray | None = None  # float64[N,2]: where each image was taken (ground plane, metres)
    headings: np.ndarray | None = None  # float64[N]: heading of each image (radians)
    depth: np.ndarray | None = None  # float32[N,1,H,W]: z-depth in metres, when asked for (linear probes)

    def __len__(self) -> int:
        return len(self.rgb)


def sample_poses(
    names: list[str], count: int, rng: np.random.Generator, config: EnvConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(building index int64[count], position float64[count,2], heading float64[count]) at navigable points."""
    idx = rng.integers(0, len(names), count)
    pos = np.empty((count, 2))
    for b in np.unique(idx):
        navigable, cell_size = navigable_cells(config, names[b])
        cells = np.argwhere(navigable)
        rows = np.flatnonzero(idx == b)
        ij = cells[rng.integers(0, len(cells), len(rows))]
        # stay 10 % of a cell inside so float rounding never leaves the navigable cell
        pos[rows, 0] = (ij[:, 1] + rng.uniform(0.1, 0.9, len(rows))) * cell_size
        pos[rows, 1] = (ij[:, 0] + rng.uniform(0.1, 0.9, len(rows))) * cell_size
    return idx, pos, rng.uniform(-np.pi, np.pi, count)


def render_set(
    task: str,
    split: str,
    num_images: int,
    resolution: int,
    seed: int,
    config: EnvConfig | None = None,
    progress: bool = False,
    depth: bool = False,
) -> PretrainSet:
    """Render ``num_images`` images (with the labels of the registered pretraining task ``task``, and depth when
    ``depth``) from ``split`` buildings; the poses depend on the seed and split only, not on the resolution."""
    spec = pretrain_task(task)
    if num_images < 1:
        raise ValueError(f"num_images={num_images} must be >= 1")
    config = config or EnvConfig()
    names = building_names(config, split)
    renderer = make_pose_renderer(config, names, int(resolution))
    stream = 0 if split == "train" else 1  # different pose streams per split even with the same seed
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), stream, 0x9E7]))
    idx, pos, head = sample_poses(names, num_images, rng, config)
    rgb = np.empty((num_images, 3, resolution, resolution), np.uint8)
    labels = None
    sensors = ("rgb", *spec.sensors) + (("depth",) if depth and "depth" not in spec.sensors else ())
    depths = np.empty((num_images, 1, resolution, resolution), np.float32) if depth else None
    starts = range(0, num_images, CHUNK)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"render {split} {task}", unit="chunk")
    for s in starts:
        sl = slice(s, min(s + CHUNK, num_images))
        out = renderer.render(idx[sl], pos[sl], head[sl], sensors)
        rgb[sl] = out["rgb"]
        if depths is not None:
            depths[sl] = out["depth"]
        if spec.labels is not None:
            chunk = spec.labels(out, renderer.camera.focal)
            if labels is None:
                labels = np.empty((num_images, *chunk.shape[1:]), chunk.dtype)
            labels[sl] = chunk
    return PretrainSet(
        rgb=rgb,
        labels=labels,
        buildings=[names[i] for i in idx],
        split=split,
        seed=int(seed),
        positions=pos,
        headings=head,
        depth=depths,
    )
