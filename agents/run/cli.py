"""The command-line layer every script shares: common flags, config resolution, run folders, error lines.

``train_ppo.py`` and ``bc.py`` both take ``--config FILE``, ``--seed``, ``--device``, ``--resume RUN_DIR``,
``--print-config`` and any number of dotted ``key=value`` overrides, before or after the flags; this module
parses those once into one typed ``RunConfig`` (agents/run/run_config.py) and a run folder, so the trainers
cannot drift apart. ``run_main`` turns every user error (``common.errors.UserError`` and its subclasses) into
one line ``error: <field>: <problem> (<fix>)`` and exit code 2; any other exception is a bug, shown with its
traceback (exit code 1).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.run.config_loader import ConfigFileError, load_run_config, to_yaml
from agents.run.run_config import RunConfig
from agents.run.run_dir import RunDir
from common.errors import BadInputError, RunFinished, UserError
from envs.backends import backend_names
from envs.factory import check_backend_data, check_render_device
from policies.bases import pretrained_base_names
from policies.merge import MERGES
from policies.methods import method_names

HABITAT_FLAGS = {"data_path": "env.habitat_data_path", "scenes_dir": "env.habitat_scenes_dir"}


def base_parser(description: str) -> argparse.ArgumentParser:
    """An ArgumentParser with the flags every trainer takes; scripts add their own on top."""
    parser = argparse.ArgumentParser(
        description=description,
        epilog="Any config field can be set as key=value, e.g. ppo.n_steps=256 env.resolution=64, before or after "
        "the flags; --print-config shows them all with their values.",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    parser.add_argument("--config", default=None, help="YAML file layered over the defaults")
    parser.add_argument("--seed", type=int, default=None, help="run.seed")
    parser.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="run.device")
    parser.add_argument("--name", default=None, help="run.name (default: a timestamp)")
    parser.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument(
        "--help-config",
        action="store_true",
        help="list every config field with its default, this run's value and its help, and exit",
    )
    return parser


def add_policy_flags(parser: argparse.ArgumentParser) -> None:
    """--base, --method, --merge and --backend, shared by the trainers (choices from the code that builds them)."""
    bases = " | ".join((*pretrained_base_names(), "random"))
    parser.add_argument("--base", default=None, help=f"policy.base: {bases} | PATH to an encoder checkpoint")
    parser.add_argument("--method", default=None, choices=list(method_names()), help="policy.method")
    parser.add_argument("--merge", default=None, choices=sorted(MERGES), help="policy.merge")
    parser.add_argument("--backend", default=None, choices=list(backend_names()), help="env.backend")
    add_habitat_flags(parser)


def add_habitat_flags(parser: argparse.ArgumentParser) -> None:
    """--data-path and --scenes-dir, the two folders of a Habitat data set, on every script that takes --backend."""
    parser.add_argument(
        "--data-path",
        dest="data_path",
        default=None,
        metavar="DIR",
        help="env.habitat_data_path: the PointNav v1 folder with {split}/{split}.json.gz",
    )
    parser.add_argument(
        "--scenes-dir",
        dest="scenes_dir",
        default=None,
        metavar="DIR",
        help="env.habitat_scenes_dir: the folder that holds the scene datasets (data/scene_datasets)",
    )


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse with positional ``key=value`` overrides allowed anywhere among the flags."""
    return parser.parse_intermixed_args(argv)


def resolve_config(
    args: argparse.Namespace,
    preset: str,
    flag_map: Mapping[str, str] | None = None,
    require: Sequence[str] = (),
) -> RunConfig:
    """The run config: the dataclass defaults < the ``preset`` < ``--config`` < flags (``flag_map``: arg name ->
    dotted key) < ``key=value``, typed and checked. Common flags (seed, device, name) are mapped here.
    ``--help-config`` prints the fields and exits here."""
    mapping = {"seed": "run.seed", "device": "run.device", "name": "run.name", **HABITAT_FLAGS, **dict(flag_map or {})}
    flags = {key: getattr(args, arg) for arg, key in mapping.items() if getattr(args, arg, None) is not None}
    cfg = load_run_config(preset, args.config, flags, args.overrides, require)
    if getattr(args, "help_config", False):
        from agents.run.config_help import format_config_help

        print(format_config_help(cfg, args.config or preset))
        raise SystemExit(0)
    check_backend_data(cfg.env)  # e.g. Habitat: absolute paths, every scene file present, before any run folder
    check_render_device(cfg.env)
    return cfg


TRAINER_SCRIPTS = {"ppo": "train_ppo.py", "bc": "bc.py"}  # the config section that marks a run's trainer -> script


def resume_folder(resume: str, kind: str) -> str:
    """The run folder ``--resume`` names (a checkpoint file inside one counts as its folder; ``~`` is expanded),
    checked to be a run of trainer ``kind`` ('ppo' or 'bc'), so resuming with the other trainer's script names
    the right one instead of failing on its config's keys."""
    from agents.run.config_loader import to_container

    path = Path(resume).expanduser()
    if path.is_file() and path.parent.name == "checkpoints":
        path = path.parent.parent
    run = RunDir.open(path)
    tree = to_container(run.read_config())
    for other, script in TRAINER_SCRIPTS.items():
        if other != kind and other in tree and kind not in tree:
            raise BadInputError(
                "--resume",
                f"{run.root} is a {other.upper()} run, which scripts/{TRAINER_SCRIPTS[kind]} cannot continue",
                f"resume it with scripts/{script} --resume {run.root}",
            )
    return str(run.root)


def read_run_config(run: RunDir) -> RunConfig:
    """A run folder's config.yaml as a checked RunConfig (--resume, --init-from, evaluation)."""
    from agents.run.config_loader import to_container

    return RunConfig.from_dict(to_container(run.read_config()))


def open_run(cfg: RunConfig, resume: str | None) -> tuple[RunDir, RunConfig, bool]:
    """Create a fresh run folder for ``cfg``, or reopen ``resume`` after checking its config matches.

    Returns ``(run, config, resumed)``. On resume the run's own config is used; a different config asked
    for on the command line is an error, and so is a finished run (``RunFinished``); in both cases nothing in
    the folder is touched, so a resumed run is the same run. Either way this process then holds the folder's
    lock (``RunDir.lock``): a second writer is refused while it lives.
    """
    if resume:
        run = RunDir.open(resume)
        saved = read_run_config(run)
        differences = config_differences(saved.to_dict(), cfg.to_dict(), ignore=("run",))
        if differences:
            shown = "; ".join(differences[:8])
            raise ConfigFileError(
                "--resume",
                f"the requested config differs from {run.config_path} ({shown})",
                "resume with the same config (drop the changed flags) or start a new run",
            )
        if run.finished():
            raise RunFinished(
                f"run folder {run.root} is finished (its results.json is written); nothing to resume, nothing changed"
            )
        run.lock()
        run.remove_stale_temp_files()  # only now: no other writer can be saving into checkpoints/
        return run, saved, True
    assert cfg.run is not None, "a run folder needs the run: section"
    run = RunDir.create(cfg.run.runs_root, cfg.run.experiment, cfg.run.name)
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


def error_line(err: BaseException) -> str:
    """The one line a user sees for a bad input: ``error: <field>: <problem> (<fix>)``."""
    return "error: " + " ".join(str(err).split())


class Terminated(KeyboardInterrupt):
    """SIGTERM (what batch schedulers send) raised where the process stands, so it unwinds as Ctrl-C does."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def run_main(main: Callable[[], Any], terminate_like_interrupt: bool = False) -> None:
    """Run a script's ``main``: a user error (``common.errors.UserError``) becomes one line and exit code 2, a
    finished run's ``--resume`` a note and exit code 0; anything else propagates (a traceback, exit code 1).
    Ctrl-C prints where the run stands (exit 130); with ``terminate_like_interrupt`` (the trainers) SIGTERM
    does the same (exit 143), so a scheduler's stop leaves a resumable run and says so."""
    if terminate_like_interrupt:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        main()
    except KeyboardInterrupt as stop:
        print("interrupted; the last checkpoint in the run folder is intact (use --resume RUN_DIR)", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM if isinstance(stop, Terminated) else 130)
    except RunFinished as done:
        print(" ".join(str(done).split()))
        sys.exit(done.exit_code)
    except UserError as err:
        print(error_line(err), file=sys.stderr)
        sys.exit(2)


def print_config(cfg: RunConfig) -> None:
    """Print a resolved config as YAML (for --print-config)."""
    print(to_yaml(cfg), end="")
