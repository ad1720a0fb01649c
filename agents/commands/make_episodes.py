"""Write the fixed embedded train / held-out episode sets in Habitat PointNav v1 format.

Usage: python scripts/make_episodes.py OUT_DIR [--config PRESET] [env.key=value ...]
(writes OUT_DIR/train/train.json.gz and OUT_DIR/heldout/heldout.json.gz; point env.episodes_dir at OUT_DIR to use
them). ``--config`` takes a preset (e.g. configs/ppo.yaml) whose env section decides the set (its distance range,
episode counts, buildings), so a run of that preset can read it; without it, configs/env.yaml's defaults.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from agents.run.cli import run_main
from agents.run.config_loader import load_run_config
from envs.atomic_io import check_writable
from envs.config import EnvConfig
from envs.episodes import save_episodes
from envs.factory import load_episodes_for

TRAINER_DEFAULTS = (("ppo", "ppo.yaml"), ("bc", "bc.yaml"))  # a preset with this section layers over this file


def preset_env(config_file: str | None, overrides: list[str]) -> EnvConfig:
    """The env section of ``config_file`` (a trainer preset, layered over its trainer's defaults, or an env-only
    file over configs/evaluate.yaml) with ``overrides``; configs/env.yaml's defaults without a file."""
    default = "evaluate.yaml"
    if config_file is not None and Path(config_file).is_file():
        try:
            sections = yaml.safe_load(Path(config_file).read_text()) or {}
        except yaml.YAMLError:
            sections = {}  # load_run_config names the file and the problem
        bases = " ".join(map(str, sections.get("_base_") or [])) if isinstance(sections, dict) else ""
        for section, file in TRAINER_DEFAULTS:
            if isinstance(sections, dict) and (section in sections or file in bases):
                default = file
                break
    return load_run_config(default, config_file, None, overrides).env


def main() -> None:
    """Check that OUT_DIR can be written, then generate and write both splits."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="env.* overrides, e.g. env.episodes.seed=1")
    parser.add_argument("--config", default=None, help="a preset (e.g. configs/ppo.yaml) whose env section to write")
    parser.add_argument("--seed", type=int, default=None, help="env.episodes.seed")
    args = parser.parse_intermixed_args()
    overrides = [*args.overrides, *([f"env.episodes.seed={args.seed}"] if args.seed is not None else [])]
    config = preset_env(args.config, overrides)
    config.episodes_dir = None  # generate the set, never read it back from a folder the preset names
    check_writable(args.out_dir, "OUT_DIR")  # before any work
    for split in ("train", "heldout"):
        episodes = load_episodes_for(config, split)
        path = save_episodes(args.out_dir / split / f"{split}.json.gz", episodes)
        print(f"{split}: {len(episodes)} episodes -> {path}")


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main)
