"""The command-line layer every training script shares: common flags, config resolution, run folders.

``train_ppo.py`` and ``bc.py`` both take ``--config FILE``, ``--seed``, ``--device``, ``--resume RUN_DIR``,
``--print-config`` and any number of dotted ``key=value`` overrides; this module parses those once and
turns them into a resolved config and a run folder, so the two trainers cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Mapping, Sequence

from omegaconf import DictConfig

from agents.config_loader import ConfigFileError, load_config, to_container, to_yaml
from agents.run_dir import RunDir


def base_parser(description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with the flags every trainer takes; scripts add their own on top."""
    parser = argparse.ArgumentParser(
        description=description,
        epilog="Any config field can be set as key=value, e.g. ppo.n_steps=256 env.resolution=64; "
        "--print-config shows them all with their values.",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.add_argument("--config", default=None, help="YAML file layered over the defaults")
    parser.add_argument("--seed", type=int, default=None, help="run.seed")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="run.device")
    parser.add_argument("--name", default=None, help="run.name (default: a timestamp)")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def resolve_config(
    args: argparse.Namespace,
    default_file: str,
    flag_map: Mapping[str, str] | None = None,
) -> DictConfig:
    """The run config: ``configs/<default_file>`` < ``--config`` < flags (``flag_map``: arg name -> dotted key)
    < ``key=value``. Common flags (seed, device, name) are mapped here."""
    mapping = {"seed": "run.seed", "device": "run.device", "name": "run.name", **dict(flag_map or {})}
    flags = {key: getattr(args, arg) for arg, key in mapping.items() if getattr(args, arg, None) is not None}
    return load_config(default_file, args.config, flags, args.overrides)


def open_run(cfg: DictConfig, resume: str | None) -> tuple[RunDir, DictConfig, bool]:
    """Create a fresh run folder for ``cfg``, or reopen ``resume`` after checking its config matches.

    Returns ``(run, config, resumed)``. On resume the run's own config is used; a different config asked
    for on the command line is an error (nothing in the folder is touched), so a resumed run is the same run.
    """
    if resume:
        run = RunDir.open(resume)
        saved = run.read_config()
        differences = config_differences(to_container(saved), to_container(cfg), ignore=("run",))
        if differences:
            shown = "; ".join(differences[:8])
            raise ConfigFileError(
                f"--resume {resume}: the requested config differs from the run's config.yaml ({shown}); "
                "resume with the same config (drop the changed flags) or start a new run"
            )
        return run, saved, True
    run_cfg = cfg.get("run", {})
    run = RunDir.create(run_cfg.get("runs_root", "runs"), run_cfg.get("experiment", "default"), run_cfg.get("name"))
    run.write_config(cfg)
    return run, cfg, False


def config_differences(saved: Any, wanted: Any, prefix: str = "", ignore: Sequence[str] = ()) -> list[str]:
    """Human-readable list of dotted keys whose values differ between two plain config trees."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        out: list[str] = []
        for key in sorted(set(saved) | set(wanted)):
            if not prefix and key in ignore:
                continue
            dotted = f"{prefix}{key}"
            if key not in saved or key not in wanted:
                out.append(f"{dotted} only in {'the run' if key in saved else 'the request'}")
            else:
                out.extend(config_differences(saved[key], wanted[key], dotted + "."))
        return out
    return [] if saved == wanted else [f"{prefix.rstrip('.')}: run has {saved!r}, asked {wanted!r}"]


def run_main(main: Callable[[], Any]) -> None:
    """Run a script's ``main`` and turn the toolkit's user-facing errors into one clear line and exit code 2."""
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint in the run folder is intact (use --resume RUN_DIR)", file=sys.stderr)
        sys.exit(130)
    except (ConfigFileError, ValueError, FileNotFoundError, FileExistsError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def print_config(cfg: DictConfig) -> None:
    """Print a resolved config as YAML (for --print-config)."""
    print(to_yaml(cfg), end="")

