"""Draw top-down plans of train and held-out buildings with sample episodes and expert paths.

Writes docs/img/buildings.png (and first-person frames in a second row when the renderer is available).
Usage: python scripts/show_buildings.py [--out docs/img/buildings.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from envs.backend import Action
from envs.config import EnvConfig
from envs.embedded.backend import EmbeddedBackend
from envs.embedded.catalogue import building_names, get_building
from envs.embedded.episode_gen import generate_episodes


def expert_path(backend: EmbeddedBackend, episode) -> np.ndarray:
    """Positions visited by the expert in ``episode`` (agent 0 of ``backend``)."""
    backend.reset(np.array([0]), [episode])
    points = [backend.positions[0].copy()]
    for _ in range(500):
        action = backend.expert_action(0.2)
        if action[0] == Action.STOP:
            break
        backend.step(action)
        points.append(backend.positions[0].copy())
    return np.array(points)


def plan_image(building) -> np.ndarray:
    """Top-down RGB plan: obstacles in their material colour, floor white."""
    colours = building.textures.reshape(len(building.textures), -1, 3).mean(1)
    img = np.where(building.walls[..., None] > 0, colours[building.walls], 255.0)
    return img.astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/buildings.png"))
    args = parser.parse_args()
    shown = [("train", n) for n in building_names("train", EnvConfig())[:3]] + [
        ("heldout", n) for n in building_names("heldout", EnvConfig())[:2]
    ]
    try:
        from envs.embedded import renderer  # noqa: F401

        with_frames = True
    except ImportError:
        with_frames = False
    fig, axes = plt.subplots(
        2 if with_frames else 1, len(shown), figsize=(4 * len(shown), 8 if with_frames else 4.4), squeeze=False
    )
    for col, (split, name) in enumerate(shown):
        config = EnvConfig(split=split)
        backend = EmbeddedBackend(config, 1)
        building = get_building(name, config)
        ax = axes[0, col]
        w, d = building.size_m
        ax.imshow(plan_image(building), origin="lower", extent=(0, w, 0, d))
        for cx, cy, r, _ in building.pillars:
            ax.add_patch(plt.Circle((cx, cy), r, color="0.3"))
        for k, ep in enumerate(generate_episodes([name], 3, seed=1, config=config)):
            path = expert_path(backend, ep)
            ax.plot(path[:, 0], path[:, 1], "-", lw=1.2, color=f"C{k}")
            ax.plot(*ep.start_xy, "o", color=f"C{k}", ms=5)
            ax.plot(*ep.goal_xy, "*", color=f"C{k}", ms=10)
        ax.set_title(f"{name} ({split}) {w:.1f}x{d:.1f} m", fontsize=9)
        if with_frames:
            backend.reset(np.array([0]), [ep])
            axes[1, col].imshow(backend.render(("rgb",))["rgb"][0].transpose(1, 2, 0))
            axes[1, col].set_axis_off()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


def cli() -> None:
    """Console entry point."""
    main()
