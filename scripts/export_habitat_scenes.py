"""Export the embedded buildings as Habitat scenes with their PointNav v1 episode sets (Habitat's data layout).

Usage: python scripts/export_habitat_scenes.py OUT [--config FILE] [--seed S] [--buildings A B ...]
Writes OUT/scene_datasets/embedded/<Name>.glb (+ embedded.scene_dataset_config.json) for the 72 training and
14 held-out buildings, and OUT/datasets/pointnav/embedded/v1/{train,val}/{split}.json.gz (the fixed embedded
episode sets of the `env:` section of --config, e.g. a run's config.yaml, else configs/env.yaml; held-out is
Habitat's val). Needs trimesh (pip install -e '.[habitat]'), not habitat-sim.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf

from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import building_of, load_or_generate_episodes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="export folder (created)")
    parser.add_argument("--config", help="YAML whose env: section sets the episodes (a run's config.yaml, configs/bc.yaml)")
    parser.add_argument("--seed", type=int, default=None, help="env.episodes.seed of the episode sets")
    parser.add_argument("--buildings", nargs="+", help="only these buildings (names from either split)")
    args = parser.parse_args(argv)
    try:  # the file's env: section over the defaults (configs/env.yaml = EnvConfig's defaults)
        config = EnvConfig.from_dict(OmegaConf.to_container(OmegaConf.load(args.config)).get("env")) if args.config else EnvConfig()
    except (OSError, ValueError) as err:
        print(f"error: --config: {err} (pass a YAML file with an env: section)", file=sys.stderr)
        return 2
    if args.seed is not None:
        config.episodes.seed = args.seed
    splits = {split: building_names(split, config) for split in ("train", "heldout")}
    if args.buildings:
        unknown = sorted(set(args.buildings) - set(splits["train"]) - set(splits["heldout"]))
        if unknown:
            print(f"error: --buildings: unknown names {unknown} (see scripts/show_buildings.py for the catalogue)", file=sys.stderr)
            return 2
    if importlib.util.find_spec("trimesh") is None:
        print("error: trimesh: not installed (pip install -e '.[habitat]')", file=sys.stderr)
        return 2
    from envs.habitat.scene_export import export_dataset

    wanted = set(args.buildings) if args.buildings else None
    episodes = {}
    for split in splits:
        episodes[split] = [ep for ep in load_or_generate_episodes(config, split) if wanted is None or building_of(ep) in wanted]
    episodes = {split: eps for split, eps in episodes.items() if eps}
    start = time.perf_counter()
    folders = export_dataset(args.out, config, episodes)
    for split, eps in episodes.items():
        print(f"{split}: {len({building_of(ep) for ep in eps})} buildings, {len(eps)} episodes")
    print(f"done in {time.perf_counter() - start:.0f} s; use --scenes-dir {folders['scenes_dir']} --data-path {folders['data_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
