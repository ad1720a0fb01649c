"""One folder per run: ``runs/<experiment>/<name>/`` with config.yaml, tb/, checkpoints/, results.json, videos/.

A process that writes a run folder (a new run, a resumed one) holds its lock, ``<run>/.lock``: an exclusive
``flock`` the kernel drops when the process dies, however it dies, so a second writer is refused (naming the
holder's pid) and a killed writer's lock is simply taken over by the next one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from agents.run.config_loader import ConfigFileError, to_yaml
from common.atomic_io import atomic_write_text, not_writable, remove_stale_temp_files
from common.errors import MissingFileError, RunExistsError, RunLockedError

LOCK_NAME = ".lock"
_HELD_LOCKS: dict[Path, int] = {}  # run folder -> open lock file descriptor, held by this process until it exits
_HELD_ELSEWHERE = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)  # flock's "another process holds it"


def _holder_pid(fd: int) -> str:
    """The pid a lock holder wrote into its lock file ("unknown" before it has written it)."""
    return os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"


@dataclass(frozen=True)
class RunDir:
    """Paths of one run's folder; creating it never overwrites an existing run."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def results_path(self) -> Path:
        return self.root / "results.json"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    @classmethod
    def create(cls, runs_root: str | Path, experiment: str, name: str | None = None) -> RunDir:
        """Make a fresh run folder (timestamped unless ``name`` is given); refuses to reuse an existing one."""
        code_version()  # read now, when the code is loaded: a commit made while the run trains is not its code
        stamp = name or time.strftime("%Y%m%d-%H%M%S")
        root = Path(runs_root).expanduser() / experiment / stamp  # run.runs_root=~/runs is the home's
        taken = RunExistsError(
            "run.name",
            f"run folder {root} already exists and is not empty",
            f"pick another run.name or use --resume {root}",
        )
        if root.exists() and any(root.iterdir()):
            raise taken
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise not_writable(root, err, "run.runs_root") from None
        run = cls(root)
        run.lock()
        if run.config_path.exists():  # another process created the same folder in between
            raise taken
        run.checkpoints.mkdir(exist_ok=True)
        return run

    @classmethod
    def open(cls, root: str | Path) -> RunDir:
        """An existing run folder (for --resume, evaluation, --init-from); clear error if it is not one."""
        code_version()  # as in create (a resumed run)
        run = cls(Path(root))
        if not run.root.is_dir():
            raise MissingFileError(
                "run folder", f"{run.root} does not exist", "pass the folder a training script printed"
            )
        if not run.config_path.exists():
            raise MissingFileError(
                "run folder",
                f"{run.root} has no config.yaml, so it is not a sidetune-nav run folder",
                "pass the folder a training script printed",
            )
        return run

    def lock(self) -> None:
        """Take the folder's writer lock for the rest of this process's life (a no-op if this process holds it);
        a ``RunLockedError`` naming the holder's pid if another live process holds it. A lock left by a killed
        process is free (the kernel released it), so it is taken over."""
        root = self.root.resolve()
        if root in _HELD_LOCKS:
            return
        path = root / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise not_writable(root, err, "run folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _holder_pid(fd)
            os.close(fd)
            if err.errno not in _HELD_ELSEWHERE:
                raise
            raise RunLockedError(
                "run folder",
                f"{root} is being written by another process (pid {holder})",
                "wait for it to end, or stop it; two processes never write one run",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD_LOCKS[root] = fd

    def writer(self) -> str | None:
        """The pid of another live process writing this folder (holding its lock); None when no one does. Used
        by sweeps, which must neither start nor move a cell another process is running. Probing takes a shared
        lock for an instant; a writer starting in that instant is refused, as if the two had raced."""
        root = self.root.resolve()
        if root in _HELD_LOCKS:
            return None
        try:
            fd = os.open(root / LOCK_NAME, os.O_RDONLY)
        except OSError:
            return None  # no lock file: never written by a locking process, or not readable (then the run says so)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in _HELD_ELSEWHERE:
                raise
            return _holder_pid(fd)
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return None

    def finished(self) -> bool:
        """True once the run wrote its results.json and was not stopped early by its time limit (a resumable stop)."""
        if not self.results_path.is_file():
            return False
        try:
            results = json.loads(self.results_path.read_text())
        except (OSError, ValueError):
            return False  # a damaged results.json is rewritten by the resumed run
        if not isinstance(results, dict):
            return True
        training = results.get("training") or {}  # results schema 2 (agents/evaluation/results.py); 1: top level
        return not (results.get("stopped_by_time_limit") or training.get("stopped_by_time_limit"))

    def write_config(self, cfg: Any) -> None:
        """Write the resolved config (a RunConfig or a plain tree) atomically."""
        atomic_write_text(self.config_path, to_yaml(cfg))

    def read_config(self) -> DictConfig:
        """The resolved config this run was started with (fields the schema gained later: see
        ``complete_saved_config``)."""
        from agents.run.run_config import complete_saved_config

        try:
            tree = OmegaConf.to_container(OmegaConf.load(self.config_path))
        except Exception as err:
            raise ConfigFileError(
                "run folder",
                f"{self.config_path} is not readable YAML ({err})",
                "the run folder is damaged; start a new run",
            ) from None
        if not isinstance(tree, dict):
            raise ConfigFileError("run folder", f"{self.config_path} holds no config", "the run folder is damaged")
        return OmegaConf.create(complete_saved_config(tree))

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete temp files that a killed write left in checkpoints/ (see common.atomic_io); returns them."""
        return remove_stale_temp_files(self.checkpoints) if self.checkpoints.is_dir() else []

    def write_results(self, results: dict[str, Any]) -> None:
        """Write results.json atomically as strict JSON (NaN and infinities become null), with the code version
        that produced it (``code``)."""
        results = {**results, "code": results.get("code") or code_version()}
        text = json.dumps(finite_json(results), indent=2, sort_keys=True, default=float, allow_nan=False)
        atomic_write_text(self.results_path, text)


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float (nested in dicts, lists, tuples) replaced by None, since strict
    JSON has no such numbers; numpy and torch scalars become the Python numbers and bools they hold, keys strings."""
    if isinstance(value, dict):
        return {str(key): finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalar
        value = value.item()
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else None


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """This code's checkout: its git commit and whether tracked files other than runs/ differ from it, so a result
    names the code that made it (both None outside a git checkout, e.g. an installed wheel). Read once per process,
    when a run folder is created or opened."""
    return checkout_version(Path(__file__).resolve().parents[2])


def checkout_version(root: Path) -> dict[str, Any]:
    """The git commit of the checkout holding ``root`` and whether its tracked files other than runs/ differ."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!runs")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
