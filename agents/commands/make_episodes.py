"""Write the fixed embedded train / held-out / train_val episode sets in Habitat PointNav v1 format.

Usage: python scripts/make_episodes.py OUT_DIR   (writes OUT_DIR/train/train.json.gz,
OUT_DIR/heldout/heldout.json.gz and OUT_DIR/train_val/train_val.json.gz; point env.episodes_dir at OUT_DIR
to use them; train_fit is read from the train file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.run.cli import run_main
from common.atomic_io import check_writable
from envs.backends import VAL_SPLIT
from envs.config import EnvConfig
from envs.episodes import save_episodes
from envs.factory import load_episodes_for


def main() -> None:
    """Check that OUT_DIR can be written, then generate and write every stored split."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0, help="env.episodes.seed")
    args = parser.parse_args()
    config = EnvConfig()
    config.episodes.seed = args.seed
    check_writable(args.out_dir, "OUT_DIR")  # before any work
    for split in ("train", "heldout", VAL_SPLIT):  # train_fit is cut from train when read
        episodes = load_episodes_for(config, split)
        path = save_episodes(args.out_dir / split / f"{split}.json.gz", episodes)
        print(f"{split}: {len(episodes)} episodes -> {path}")


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main)
