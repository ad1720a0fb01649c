"""The one reader of a run folder (config.yaml, results.json, eval.json, eval_history.json) for every report, plot
and sweep table, so they all see a run the same way, whichever results schema it was written with."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.evaluation.metrics import run_summary
from agents.evaluation.results import RunResults, parse_results
from agents.run.checkpoint_info import file_sha256
from common.errors import BadInputError

ABANDONED = "sweep_abandoned"  # agents/sweeps/sweep.py moves checkpoint-less interrupted cells here
EVAL_FILE = "eval.json"  # scripts/evaluate.py's evaluation of the run's checkpoint
TRAINER_SOURCE = "the trainer's final evaluation"  # how reports name the evaluation in results.json
EVAL_HISTORY = "eval_history.json"  # PPO's periodic evaluations: [{"frames", "success", "spl", "reward", ...}]


@dataclass(frozen=True)
class RunFolder:
    """What a run folder holds, read once: its config as a plain tree and what tables group it by (``summary``:
    kind, method, base, data, run_seed), its results (None while it trains), a later ``eval.json`` and PPO's
    evaluation history (None when absent), and which evaluation reports use (``chosen``)."""

    root: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    results: RunResults | None
    eval_file: dict[str, Any] | None
    eval_history: list[dict[str, Any]] | None
    chosen: EvaluationChoice  # the evaluation reports use, and which it is

    @property
    def finished(self) -> bool:
        """True once the trainer has written results.json."""
        return self.results is not None

    @property
    def evaluation(self) -> dict[str, Any] | None:
        """The held-out evaluation reports use: that of the run's final checkpoint (see ``choose_evaluation``);
        None when there is none. Paired comparisons also need its ``per_episode`` rows, which every evaluation
        since the first committed runs holds."""
        return self.chosen.evaluation


@dataclass(frozen=True)
class EvaluationChoice:
    """The evaluation a report uses, ``source`` saying which (e.g. "eval.json (last.zip at 1536 frames)"), and
    ``ignored``: why a present eval.json was passed over (None when it was used or absent)."""

    evaluation: dict[str, Any] | None
    source: str
    ignored: str | None = None


def _scored(evaluation: dict[str, Any]) -> str:
    """'last.zip at 1536 frames' of an evaluation that records its checkpoint."""
    name = evaluation.get("checkpoint_name") or Path(str(evaluation.get("checkpoint") or "?")).name
    frames = evaluation.get("checkpoint_frames")
    return name + (f" at {frames} frames" if frames else "")  # BC's checkpoints do not count frames (0)


def final_checkpoint_name(results: RunResults) -> str:
    """The checkpoint a finished run's own final evaluation scored: BC names it (its best epoch), PPO's is last."""
    named = results.training.get("checkpoint") if isinstance(results.training, dict) else None
    return Path(str(named)).name if named else "last.zip"


def choose_evaluation(root: Path, eval_file: Any, results: RunResults | None) -> EvaluationChoice:
    """The evaluation of the run's final checkpoint: ``eval.json`` when it scored that checkpoint as it is now
    (its recorded hash matches; one that records no checkpoint counts when it is not older than results.json),
    else the trainer's final evaluation, with the reason eval.json was passed over."""
    trainer = results.evaluation if results is not None and isinstance(results.evaluation, dict) else None
    trainer = trainer if trainer is not None and "success" in trainer else None
    final = final_checkpoint_name(results) if results is not None else None
    trainers = (
        EvaluationChoice(trainer, f"{TRAINER_SOURCE} ({final} at {results.frames} frames)")
        if trainer is not None and results is not None
        else EvaluationChoice(None, "none")
    )
    if not isinstance(eval_file, dict) or "success" not in eval_file:
        return trainers
    if results is None:
        return EvaluationChoice(eval_file, f"{EVAL_FILE} ({_scored(eval_file)})")
    recorded = eval_file.get("checkpoint_sha256")
    name = eval_file.get("checkpoint_name")
    ignored = None
    if recorded is None:
        eval_path, results_path = root / EVAL_FILE, root / "results.json"
        if eval_path.stat().st_mtime_ns < results_path.stat().st_mtime_ns:
            ignored = f"{EVAL_FILE} is older than results.json and does not record which checkpoint it scored"
    elif name != final:
        ignored = f"{EVAL_FILE} scored {_scored(eval_file)}, not the final checkpoint {final}"
    else:
        path = root / "checkpoints" / final
        if path.is_file() and file_sha256(path) != recorded:
            ignored = (
                f"{EVAL_FILE} scored {_scored(eval_file)}, which training has since replaced "
                f"(the run ended at {results.frames} frames)"
            )
    if ignored is None:
        return EvaluationChoice(eval_file, f"{EVAL_FILE} ({_scored(eval_file)})")
    fix = f"rerun scripts/evaluate.py {root} --checkpoint {Path(final).stem}"
    return dataclasses.replace(trainers, ignored=f"{ignored}; {fix}")


def _json(path: Path) -> Any:
    """Parsed JSON of ``path`` (None when absent); ValueError naming the file when it is not JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise BadInputError(f"{path} is not readable JSON ({err}); it may still be being written") from None


def milestone_evaluation(root: Path, at: int) -> EvaluationChoice:
    """The full evaluation a PPO run took at ``at`` frames (``train.milestones``), as reports use it."""
    from agents.trainers.ppo_callbacks import milestone_path

    path = milestone_path(root, at)
    saved = _json(path)
    if not isinstance(saved, dict) or "success" not in saved:
        return EvaluationChoice(None, "none", f"no evaluation at {at} frames ({path.relative_to(root)} is absent)")
    return EvaluationChoice(saved, f"{path.relative_to(root)} ({saved['checkpoint']} at {saved['frames']} frames)")


def read_run_folder(path: str | Path, at: int | None = None) -> RunFolder:
    """Read the run folder at ``path``; a MissingFileError (a FileNotFoundError) when it is not one (no config.yaml),
    a BadInputError (a ValueError) when a file in it is unreadable. ``at``: report the run's evaluation at that
    many frames (a PPO milestone) instead of its final checkpoint's."""
    from agents.run.config_loader import to_container
    from agents.run.run_dir import RunDir

    run = RunDir.open(path)
    config = to_container(run.read_config())
    summary = run_summary(config)
    tree = _json(run.results_path)
    history = _json(run.root / EVAL_HISTORY)
    results = parse_results(tree, summary) if tree is not None else None
    eval_file = _json(run.root / EVAL_FILE)
    return RunFolder(
        root=run.root,
        config=config,
        summary=summary if at is None else {**summary, "data": at},  # tables group a horizon by its frames
        results=results,
        eval_file=eval_file,
        eval_history=history if isinstance(history, list) else None,
        chosen=milestone_evaluation(run.root, at)
        if at is not None
        else choose_evaluation(run.root, eval_file, results),
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
