"""Export the embedded buildings as Habitat scenes with their PointNav v1 episode sets (Habitat's data layout).

Usage: python scripts/export_habitat_scenes.py OUT [--config FILE] [--seed S] [--buildings A B ...]
Writes OUT/scene_datasets/embedded/<Name>.glb (+ embedded.scene_dataset_config.json) for the 72 training and
14 held-out buildings, and OUT/datasets/pointnav/embedded/v1/{train,val}/{split}.json.gz: the fixed episode sets
of the `env:` section of --config (default configs/ppo.yaml, the preset Habitat users train with; a run's
config.yaml or configs/bc.yaml work too; `_base_` files are followed). Held-out is Habitat's val. With
habitat-sim installed, starts and goals are written on the navmesh stock habitat-lab computes, so its own
PointNav accepts them; without it (trimesh only) they stay on the floor and only the toolkit's backend does.
Console command: sidetune-export-habitat-scenes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agents.run.cli import run_main
from agents.run.config_loader import read_env_config
from common.errors import BadInputError
from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import building_of, load_or_generate_episodes

DEFAULT_CONFIG = "ppo"


def _describe(config: EnvConfig, source: str) -> str:
    e = config.episodes
    return (
        f"episodes from the env: section of {source}: geodesic {e.min_geodesic:g}-{e.max_geodesic:g} m, "
        f"{e.per_building_train} per training building, {e.per_building_heldout} per held-out building, "
        f"seed {e.seed}"
    )


def main(argv: list[str] | None = None) -> None:
    """Check the arguments, export, and print what was written, how long it took and the flags to use it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="export folder (created)")
    parser.add_argument(
        "--config",
        default=str(DEFAULT_CONFIG),
        help="preset or YAML whose env: section sets the episodes (default: the ppo preset; a run's config.yaml)",
    )
    parser.add_argument("--seed", type=int, default=None, help="env.episodes.seed of the episode sets")
    parser.add_argument("--buildings", nargs="+", help="only these buildings (names from either split)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = read_env_config(args.config)
    if args.seed is not None:
        config.episodes.seed = args.seed
    splits = {split: building_names(split, config) for split in ("train", "heldout")}
    if args.buildings:
        unknown = sorted(set(args.buildings) - set(splits["train"]) - set(splits["heldout"]))
        if unknown:
            raise BadInputError(
                "--buildings", f"unknown names {unknown}", "see scripts/show_buildings.py for the catalogue"
            )
    from envs.habitat.availability import habitat_sim_available
    from envs.habitat.scene_export import export_dataset, require_trimesh

    require_trimesh()
    snap = habitat_sim_available()
    print(_describe(config, args.config))
    if not snap:
        print(
            "warning: habitat-sim is not installed: starts and goals stay on the floor, which stock habitat-lab "
            "rejects (install habitat-sim and export again; see docs/habitat.md)",
            file=sys.stderr,
        )
    wanted = set(args.buildings) if args.buildings else None
    episodes = {}
    for split in splits:
        episodes[split] = [
            ep for ep in load_or_generate_episodes(config, split) if wanted is None or building_of(ep) in wanted
        ]
    episodes = {split: eps for split, eps in episodes.items() if eps}
    generated = time.perf_counter()
    folders = export_dataset(args.out, config, episodes, snap=snap)
    for split, eps in episodes.items():
        print(f"{split}: {len({building_of(ep) for ep in eps})} buildings, {len(eps)} episodes")
    where = "on habitat-lab's default navmesh" if snap else "on the floor"
    print(
        f"done in {time.perf_counter() - started:.0f} s (episodes {generated - started:.0f} s, scenes and "
        f"files {time.perf_counter() - generated:.0f} s); starts and goals {where}"
    )
    print(f"use: --scenes-dir {folders['scenes_dir']} --data-path {folders['data_path']}")


def cli() -> None:
    """Console entry point (sidetune-export-habitat-scenes): bad input is one error line and exit code 2."""
    run_main(main)
