"""The docs picture: held-out inputs, targets and decoder outputs for every pretraining task, and the training loss
curves.

Usage: python -m agents.pretraining.figure [--out docs/img/pretraining.png] [--images 4] [--seed 7]
Reads policies/weights/{task}_compact.pth of each registered task with its .decoder.pth and .json beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from agents.pretraining.dataset import render_set
from agents.pretraining.decoder import Decoder
from agents.pretraining.tasks import pretrain_task, pretrain_task_names
from agents.pretraining.train import side_paths
from common.atomic_io import atomic_path
from policies.bases import load_base, shipped_weights_path
from policies.contract import uint8_to_unit_range


def load_pair(
    task: str, arch: str = "compact", path: str | Path | None = None
) -> tuple[torch.nn.Module, Decoder, dict]:
    """(encoder, decoder, provenance) of a pretraining run, both modules in eval mode."""
    path = Path(path) if path else shipped_weights_path(task, arch)
    encoder = load_base(str(path), arch, task=task).eval()
    decoder_path, json_path = side_paths(path)
    payload = torch.load(decoder_path, map_location="cpu", weights_only=True)
    decoder = Decoder(int(payload["out_channels"]))
    decoder.load_state_dict(payload["state_dict"])
    return encoder, decoder.eval(), json.loads(json_path.read_text())


def _image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """[3,H,W] in [-1, 1] -> HxWx3 in [0, 1] for imshow."""
    x = np.asarray(x, dtype=np.float32)
    return np.clip((x.transpose(1, 2, 0) + 1) / 2, 0, 1)


@torch.no_grad()
def make_figure(
    out: str | Path, images: int = 4, seed: int = 7, arch: str = "compact", paths: dict[str, str | Path] | None = None
) -> Path:
    """Draw the picture for the shipped encoders of every registered task (or `paths[task]`); returns the PNG path."""
    import matplotlib.ticker

    from agents.evaluation.results_plots import pyplot

    plt = pyplot()

    paths = {task: Path(p) for task, p in (paths or {}).items()}
    tasks = [pretrain_task(name) for name in pretrain_task_names()]
    pairs = {spec.name: load_pair(spec.name, arch, paths.get(spec.name)) for spec in tasks}
    resolution = int(pairs[tasks[0].name][2]["resolution"])
    columns, panels = ["held-out input"], []
    buildings: list[str] = []
    for spec in tasks:
        data = render_set(spec.name, "heldout", images, resolution, seed)  # the same poses for every task
        clean = uint8_to_unit_range(data.rgb)
        x, _, _ = spec.batch(clean, data.labels, torch.Generator().manual_seed(seed))
        encoder, decoder, _ = pairs[spec.name]
        task_panels = spec.panels(decoder(encoder(x)), clean, data.labels, x)
        columns += [title for title, _ in task_panels]
        panels += [column for _, column in task_panels]
        buildings = data.buildings
    panels.insert(0, clean.numpy())  # the held-out input (every task rendered the same images)

    fig = plt.figure(figsize=(2.0 * len(columns), 2.0 * images + 3.2))
    grid = fig.add_gridspec(images + 1, len(columns), height_ratios=[1] * images + [1.6], hspace=0.35, wspace=0.05)
    cmap = matplotlib.colormaps["coolwarm"].copy()
    cmap.set_bad("black")  # unlabelled pixels
    shade = dict(cmap=cmap, vmin=-1, vmax=1)
    for r in range(images):
        for c, column in enumerate(panels):
            ax = fig.add_subplot(grid[r, c])
            panel = column[r] if column.ndim == 3 else _image(column[r])  # a map [H, W] is shaded, an image not
            ax.imshow(panel, **(shade if panel.ndim == 2 else {}))
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(buildings[r], fontsize=8)
    span = len(columns) // len(tasks)
    for k, spec in enumerate(tasks):
        task, prov = spec.name, pairs[spec.name][2]
        ax = fig.add_subplot(grid[images, span * k : span * k + span])
        steps, loss = np.array(prov["loss_curve"]).T
        ax.plot(steps, loss, label="training loss (batch mean)")
        ax.axhline(prov["heldout_loss"], color="C2", ls="--", label=f"held-out model {prov['heldout_loss']:.4f}")
        trivial = f"held-out {spec.trivial_name} {prov['trivial_loss']:.4f}"
        ax.axhline(prov["trivial_loss"], color="C3", ls=":", label=trivial)
        if "identity_loss" in prov:  # returning the corrupted input, the baseline the model must beat
            ax.axhline(
                prov["identity_loss"],
                color="C1",
                ls="-.",
                label=f"held-out {spec.input_baseline} {prov['identity_loss']:.4f}",
            )
        init = prov.get("init_from")
        if init:  # a continued run: the learning-rate schedule and the data seed restart here
            ax.axvline(init.get("total_steps") or init["steps"], color="grey", lw=0.8, label="continued (new images)")
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.set_xlabel("step")
        images_seen = prov["train_images"] + (init.get("train_images") or 0 if init else 0)
        ax.set_title(
            f"{task}: {prov['loss']}\n({prov['arch']}, {prov['resolution']}², {images_seen} training-building images)",
            fontsize=9,
        )
        ax.legend(fontsize=7, loc="upper right", framealpha=1.0)
    notes = "; ".join(spec.figure_note for spec in tasks if spec.figure_note)
    fig.suptitle(
        "Pretraining on embedded-simulator images; examples from held-out buildings" + (f" ({notes})" if notes else ""),
        fontsize=10,
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return out


def main() -> None:
    """CLI: draw the picture and print where it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/pretraining.png")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7, help="pose and noise seed of the held-out examples")
    parser.add_argument("--arch", default="compact")
    args = parser.parse_args()
    print(f"wrote {make_figure(args.out, args.images, args.seed, args.arch)}")


if __name__ == "__main__":
    main()
