"""Write the fixed embedded train / held-out / train_val episode sets in Habitat PointNav v1 format.

Usage: python scripts/make_episodes.py OUT_DIR [--config PRESET] [env.key=value ...]
(writes OUT_DIR/train/train.json.gz, OUT_DIR/heldout/heldout.json.gz and OUT_DIR/train_val/train_val.json.gz;
point env.episodes_dir at OUT_DIR to use them; train_fit is read from the train file). ``--config`` takes a preset
(a name such as ppo, or its file) or a run's config.yaml whose env section decides the set (its distance range,
episode counts, buildings), so a run of that preset can read it; without it, EnvConfig's defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.run.cli import run_main
from agents.run.config_loader import read_env_config
from common.atomic_io import check_writable
from envs.backends import VAL_SPLIT
from envs.episodes import save_episodes
from envs.factory import load_episodes_for


def main() -> None:
    """Check that OUT_DIR can be written, then generate and write every stored split."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="env.* overrides, e.g. env.episodes.seed=1")
    parser.add_argument("--config", default=None, help="a preset (e.g. ppo) or config file whose env section to write")
    parser.add_argument("--seed", type=int, default=None, help="env.episodes.seed")
    args = parser.parse_intermixed_args()
    overrides = [*args.overrides, *([f"env.episodes.seed={args.seed}"] if args.seed is not None else [])]
    config = read_env_config(args.config or "evaluate", overrides)  # evaluate: EnvConfig's defaults
    config.episodes_dir = None  # generate the set, never read it back from a folder the preset names
    check_writable(args.out_dir, "OUT_DIR")  # before any work
    for split in ("train", "heldout", VAL_SPLIT):  # train_fit is cut from train when read
        episodes = load_episodes_for(config, split)
        path = save_episodes(args.out_dir / split / f"{split}.json.gz", episodes)
        print(f"{split}: {len(episodes)} episodes -> {path}")


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main)
