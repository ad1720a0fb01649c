"""Pretrain a base encoder for a pretraining task on embedded-simulator images and write it as a base checkpoint.

Usage: python scripts/pretrain_base.py --task TASK --arch ARCH [--config FILE] [key=value ...]
(--help lists the registered tasks, agents/pretraining/tasks.py, and the architectures)

Images come from the training buildings only; the held-out buildings give the evaluation. Writes
policies/weights/{task}_{arch}.pth (the layout `policies.bases.load_base` reads), a .json of provenance and a
.decoder.pth beside it (see docs/pretraining.md). Sizes and steps: configs/pretrain.yaml.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from agents.pretraining.tasks import PRETRAIN_TASKS, pretrain_task_names
from agents.pretraining.train import PretrainResult, pretrain_base
from agents.run.cli import parse_args as parse_intermixed
from agents.run.cli import print_config, run_main
from agents.run.config_loader import load_run_config
from common.atomic_io import check_writable
from policies.bases import ARCH_ALIASES, ARCHITECTURES, canonical_arch, shipped_weights_path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; unknown --task/--arch values are rejected by argparse with the choices."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task",
        choices=pretrain_task_names(),
        help=f"pretraining task (sets pretrain.task). {PRETRAIN_TASKS.describe()}",
    )
    parser.add_argument(
        "--arch", choices=sorted(ARCHITECTURES) + sorted(ARCH_ALIASES), help="encoder architecture (sets pretrain.arch)"
    )
    parser.add_argument("--out", help="encoder checkpoint path (default policies/weights/{task}_{arch}.pth)")
    parser.add_argument("--config", help="YAML file over configs/pretrain.yaml")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. pretrain.steps=200")
    return parse_intermixed(parser, argv)


def main(argv: list[str] | None = None) -> PretrainResult | None:
    """Resolve the config, pretrain, print where the files went; returns the run's result (None: --print-config)."""
    args = parse_args(argv)
    flags = {"pretrain.task": args.task, "pretrain.arch": args.arch, "pretrain.out": args.out}
    cfg = load_run_config("pretrain", args.config, flags, args.overrides)
    p, env = cfg.pretrain, cfg.env
    task, arch = p.task, canonical_arch(p.arch)
    if args.print_config:
        print_config(cfg)
        return None
    if p.threads:
        import torch

        torch.set_num_threads(p.threads)
    out = Path(p.out) if p.out else shipped_weights_path(task, arch)
    check_writable(out.parent, "pretrain.out")  # before rendering and training, not after
    command = "python scripts/pretrain_base.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = pretrain_base(
        task,
        arch,
        p.resolution,
        p.train_images,
        p.steps,
        p.batch_size,
        p.seed,
        out,
        progress=not args.no_progress,
        heldout_images=p.heldout_images,
        log_every=p.log_every,
        config=env,
        learning_rate=p.learning_rate,
        init_from=p.init_from,
        extra_provenance={
            "command": command,
            "config": dataclasses.asdict(p),
            "env": {k: getattr(env, k) for k in ("catalogue_seed", "hfov_deg", "camera_height", "agent_radius")},
        },
    )
    metrics = result.metrics
    print(
        f"{task}/{arch}: held-out loss {metrics['heldout_loss']:.4f} vs trivial {metrics['trivial_loss']:.4f} "
        f"(train loss {metrics['train_loss']:.4f}, {metrics['steps']} steps, {metrics['steps_per_s']:.2f} steps/s)"
    )
    print(f"wrote {out}\n      {result.paths['provenance']}\n      {result.paths['decoder']}")
    return result


def cli() -> None:
    """Console entry point: bad input is one error line and exit code 2."""
    run_main(main)
