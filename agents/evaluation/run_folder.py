"""The one reader of a run folder (config.yaml, results.json, eval.json, eval_history.json) for every report, plot
and sweep table, so they all see a run the same way, whichever results schema it was written with."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.evaluation.metrics import run_summary
from agents.evaluation.results import RunResults, parse_results
from common.errors import BadInputError

ABANDONED = "sweep_abandoned"  # agents/sweeps/sweep.py moves checkpoint-less interrupted cells here
EVAL_FILE = "eval.json"  # scripts/evaluate.py's evaluation of the run's checkpoint
EVAL_HISTORY = "eval_history.json"  # PPO's periodic evaluations: [{"frames", "success", "spl", "reward", ...}]


@dataclass(frozen=True)
class RunFolder:
    """What a run folder holds, read once: its config as a plain tree and what tables group it by (``summary``:
    kind, method, base, data, run_seed), its results (None while it trains), a later ``eval.json`` and PPO's
    evaluation history (None when absent)."""

    root: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    results: RunResults | None
    eval_file: dict[str, Any] | None
    eval_history: list[dict[str, Any]] | None

    @property
    def finished(self) -> bool:
        """True once the trainer has written results.json."""
        return self.results is not None

    @property
    def evaluation(self) -> dict[str, Any] | None:
        """The held-out evaluation reports use: ``eval.json`` when scripts/evaluate.py has evaluated the run, else
        the trainer's final evaluation; None when there is neither. Paired comparisons also need its
        ``per_episode`` rows, which every evaluation since the first committed runs holds."""
        for evaluation in (self.eval_file, self.results.evaluation if self.results else None):
            if isinstance(evaluation, dict) and "success" in evaluation:
                return evaluation
        return None


def _json(path: Path) -> Any:
    """Parsed JSON of ``path`` (None when absent); ValueError naming the file when it is not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise BadInputError(f"{path} is not readable JSON ({err}); it may still be being written") from None


def read_run_folder(path: str | Path) -> RunFolder:
    """Read the run folder at ``path``; a MissingFileError (a FileNotFoundError) when it is not one (no config.yaml),
    a BadInputError (a ValueError) when a file in it is unreadable."""
    from agents.run.config_loader import to_container
    from agents.run.run_dir import RunDir

    run = RunDir.open(path)
    config = to_container(run.read_config())
    summary = run_summary(config)
    tree = _json(run.results_path)
    history = _json(run.root / EVAL_HISTORY)
    return RunFolder(
        root=run.root,
        config=config,
        summary=summary,
        results=parse_results(tree, summary) if tree is not None else None,
        eval_file=_json(run.root / EVAL_FILE),
        eval_history=history if isinstance(history, list) else None,
    )


def find_run_folders(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders (holding config.yaml) at or below each path, sorted and without duplicates; folders a sweep set
    aside below ``sweep_abandoned/`` (interrupted before their first checkpoint, restarted elsewhere) are not runs."""
    found: set[Path] = set()
    for path in map(Path, paths):
        if (path / "config.yaml").is_file():
            found.add(path)
        elif path.is_dir():
            found.update(p.parent for p in path.rglob("config.yaml") if ABANDONED not in p.relative_to(path).parts)
    return sorted(found)
