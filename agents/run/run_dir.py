"""One folder per run: ``runs/<experiment>/<name>/`` with config.yaml, tb/, checkpoints/, results.json, videos/."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig, OmegaConf

from agents.run.config_loader import ConfigFileError, to_yaml
from envs.atomic_io import atomic_write_text, remove_stale_temp_files


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
    def create(cls, runs_root: str | Path, experiment: str, name: str | None = None) -> "RunDir":
        """Make a fresh run folder (timestamped unless ``name`` is given); refuses to reuse an existing one."""
        code_version()  # read now, when the code is loaded: a commit made while the run trains is not its code
        stamp = name or time.strftime("%Y%m%d-%H%M%S")
        root = Path(runs_root) / experiment / stamp
        if root.exists() and any(root.iterdir()):
            raise FileExistsError(
                f"run.name: run folder {root} already exists and is not empty (pick another run.name or use --resume {root})"
            )
        root.mkdir(parents=True, exist_ok=True)
        run = cls(root)
        run.checkpoints.mkdir(exist_ok=True)
        return run

    @classmethod
    def open(cls, root: str | Path) -> "RunDir":
        """An existing run folder (for --resume, evaluation, --init-from); clear error if it is not one."""
        code_version()  # as in create (a resumed run)
        run = cls(Path(root))
        if not run.root.is_dir():
            raise FileNotFoundError(f"run folder: {run.root} does not exist (pass the folder a training script printed)")
        if not run.config_path.exists():
            raise FileNotFoundError(f"run folder: {run.root} has no config.yaml, so it is not a sidetune-nav run folder (pass the folder a training script printed)")
        return run

    def write_config(self, cfg: Any) -> None:
        """Write the resolved config (a RunConfig or a plain tree) atomically."""
        atomic_write_text(self.config_path, to_yaml(cfg))

    def read_config(self) -> DictConfig:
        """The resolved config this run was started with."""
        try:
            return OmegaConf.load(self.config_path)  # type: ignore[return-value]
        except Exception as err:
            raise ConfigFileError("run folder", f"{self.config_path} is not readable YAML ({err})", "the run folder is damaged; start a new run") from None

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete temp files that a killed write left in checkpoints/ (see envs.atomic_io); returns them."""
        return remove_stale_temp_files(self.checkpoints) if self.checkpoints.is_dir() else []

    def write_results(self, results: dict[str, Any]) -> None:
        """Write results.json atomically, with the code version that produced it (``code``)."""
        results = {**results, "code": results.get("code") or code_version()}
        atomic_write_text(self.results_path, json.dumps(results, indent=2, sort_keys=True, default=float))


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The checkout's git commit and whether tracked files other than runs/ differ from it, so a result names
    the code that made it (both None outside a git checkout, e.g. an installed wheel). Read once per process,
    when a run folder is created or opened."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!runs"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
