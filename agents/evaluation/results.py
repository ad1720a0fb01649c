"""The one results schema of a trained run (``results.json``), whatever trained it, and its readers.

PPO and BC write it through ``write_run_results``; reports read it through ``parse_results`` (agents/evaluation/
run_folder.py), which also reads schema 1, the two layouts that committed runs hold (PPO's flat file and BC's
file with a nested ``heldout``), so nothing under ``runs/`` needs rewriting. The file is strict JSON: a
non-finite number (e.g. a validation loss without validation data) is written as null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from agents.run.run_dir import finite_json
from agents.run.trainers import is_imitation
from common.errors import BadInputError

SCHEMA_VERSION = 2
KINDS = ("ppo", "bc")


@dataclass
class RunResults:
    """``results.json`` of every trained run (schema 2).

    ``frames`` are env frames trained on, in the unit of the α schedules and the α trajectory: PPO counts the env
    frames it collected, BC the dataset frames drawn in its training batches (each epoch's pass counts again);
    BC also records its ``dataset_frames`` and ``epochs``. ``evaluation`` is the final held-out evaluation as the
    evaluator returns it (summaries with intervals and one row per episode, ``per_episode``); None when the run
    was not evaluated (``train.final_eval=false``). ``training`` is the trainer's own bookkeeping (PPO: target
    and session frames, frames/s, the best periodic evaluation; BC: split sizes, best epoch and loss, timings)."""

    kind: str
    method: str | None  # policy.method, or 'blind' when the image's features were zeroed
    base: str | None
    data: int | None  # what results tables group by: BC trajectories, PPO target frames
    run_seed: int | None
    frames: int
    alphas: dict[str, float] = field(default_factory=dict)  # final α of each merge ({} without one)
    alpha_trajectory: list[list[Any]] = field(default_factory=list)  # [frames, {name: α}] per rollout / epoch
    evaluation: dict[str, Any] | None = None
    dataset_frames: int | None = None  # BC: frames in its trajectories (training and validation)
    epochs: int | None = None  # BC: epochs run
    history: list[dict[str, Any]] | None = None  # BC: one row per epoch (losses, accuracies, α)
    training: dict[str, Any] = field(default_factory=dict)
    world_size: int | None = None  # ranks under torchrun (frames count every rank's)
    code: dict[str, Any] | None = None  # the commit that produced the run (agents/run/run_dir.py)
    alpha_probe: dict[str, Any] | None = None  # held-out action loss with α forced (agents/evaluation/alpha_probe.py)
    numerics: dict[str, Any] | None = None  # what 'auto' precisions resolved to here (policies/precision.run_numerics)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        assert self.kind in KINDS, f"results kind {self.kind!r} is not one of {KINDS}"

    def to_json(self) -> dict[str, Any]:
        """The strict-JSON tree of the file (non-finite numbers as null, numpy scalars as Python ones)."""
        return finite_json(asdict(self))

    def metric(self, key: str) -> float | None:
        """The mean of evaluation summary ``key`` (success, spl, reward, ...), None without an evaluation."""
        block = (self.evaluation or {}).get(key)
        return None if not isinstance(block, Mapping) or block.get("mean") is None else float(block["mean"])

    def summary(self) -> dict[str, Any]:
        """The one line a training command prints."""
        line: dict[str, Any] = {"kind": self.kind, "method": self.method, "frames": self.frames}
        if is_imitation(self.kind):  # trained in epochs
            line.update(epochs=self.epochs, best_val_loss=self.training.get("best_val_loss"))
        else:
            line["frames_per_second"] = self.training.get("frames_per_second")
        if self.evaluation is not None:
            line.update(
                episodes=self.evaluation.get("episodes"), success=self.metric("success"), spl=self.metric("spl")
            )
        if self.alphas:
            line["alphas"] = self.alphas
        return line


def parse_results(tree: Mapping[str, Any], summary: Mapping[str, Any]) -> RunResults:
    """A results.json tree of any schema as ``RunResults``. ``summary`` (metrics.run_summary of the run's config)
    names the run in schema 1 as schema 2 does (BC's file had no data or seed, and named a blind run's method
    'features' where every report says 'blind')."""
    version = tree.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        known = set(RunResults.__dataclass_fields__)
        return RunResults(**{k: v for k, v in tree.items() if k in known})
    if version != 1:
        raise BadInputError(
            f"results.json schema {version} is newer than this code reads ({SCHEMA_VERSION}); update the code"
        )
    return (
        _from_bc_v1(tree, summary) if (tree.get("kind") or summary.get("kind")) == "bc" else _from_ppo_v1(tree, summary)
    )


_V1_PPO_TRAINING = (
    "target_frames",
    "stopped_by_time_limit",
    "frames_this_session",
    "wall_seconds_this_session",
    "eval_seconds_this_session",
    "frames_per_second",
    "best",
    "eval_history",
    "policy_evaluated",
)
_V1_COMMON = (
    "kind",
    "method",
    "base",
    "data",
    "run_seed",
    "frames",
    "alphas",
    "alpha_trajectory",
    "world_size",
    "code",
)


def _from_ppo_v1(tree: Mapping[str, Any], summary: Mapping[str, Any]) -> RunResults:
    """Schema 1 of PPO: one flat object, the final evaluation's keys beside the trainer's."""
    evaluation = None
    if "per_episode" in tree:
        skip = {*_V1_PPO_TRAINING, *_V1_COMMON}
        evaluation = {k: v for k, v in tree.items() if k not in skip}
    return RunResults(
        kind="ppo",
        method=summary.get("method", tree.get("method")),
        base=summary.get("base", tree.get("base")),
        data=summary.get("data", tree.get("data")),
        run_seed=summary.get("run_seed", tree.get("run_seed")),
        frames=int(tree.get("frames") or 0),
        alphas=tree.get("alphas") or {},
        alpha_trajectory=tree.get("alpha_trajectory") or [],
        evaluation=evaluation,
        training={k: tree[k] for k in _V1_PPO_TRAINING if k in tree},
        world_size=tree.get("world_size"),
        code=tree.get("code"),
        schema_version=1,
    )


def _from_bc_v1(tree: Mapping[str, Any], summary: Mapping[str, Any]) -> RunResults:
    """Schema 1 of BC: ``frames`` meant dataset frames and the evaluation was nested as ``heldout``. The frames
    trained on are the last α-trajectory point where there is one, else epochs x training frames."""
    trajectory = tree.get("alpha_trajectory") or []
    epochs = tree.get("epochs_run")
    frames = int(trajectory[-1][0]) if trajectory else int(epochs or 0) * int(tree.get("train_frames") or 0)
    kept = {
        "kind",
        "method",
        "base",
        "frames",
        "alphas",
        "alpha_trajectory",
        "history",
        "heldout",
        "success",
        "spl",
        "epochs_run",
        "world_size",
        "code",
    }
    return RunResults(
        kind="bc",
        method=summary.get("method", tree.get("method")),
        base=summary.get("base", tree.get("base")),
        data=summary.get("data", tree.get("trajectories")),
        run_seed=summary.get("run_seed"),
        frames=frames,
        alphas=tree.get("alphas") or {},
        alpha_trajectory=trajectory,
        evaluation=tree.get("heldout"),
        dataset_frames=tree.get("frames"),
        epochs=epochs,
        history=tree.get("history"),
        training={k: v for k, v in tree.items() if k not in kept},
        world_size=tree.get("world_size"),
        code=tree.get("code"),
        schema_version=1,
    )


def write_run_results(
    run: Any,
    cfg: Any,
    kind: str,
    frames: int,
    evaluation: dict[str, Any] | None,
    alphas: dict[str, float],
    alpha_trajectory: list[list[Any]],
    training: dict[str, Any],
    world_size: int | None = None,
    dataset_frames: int | None = None,
    epochs: int | None = None,
    history: list[dict[str, Any]] | None = None,
    alpha_probe: dict[str, Any] | None = None,
    device: str = "cpu",
) -> RunResults:
    """Write a training session's results.json in the one schema (PPO and BC both call this) and return it as read
    back (strict JSON, with the code version ``run.write_results`` adds; agents/run/run_dir.py). ``cfg``: the run's
    RunConfig (what the run is grouped by comes from it); ``device``: where it trained, which decides what its
    'auto' precisions resolved to; the other arguments are ``RunResults``' fields."""
    from agents.evaluation.metrics import run_summary
    from policies.precision import run_numerics

    summary = run_summary(cfg.to_dict())
    results = RunResults(
        kind=kind,
        method=summary["method"],
        base=summary["base"],
        data=summary["data"],
        run_seed=summary["run_seed"],
        frames=int(frames),
        alphas=alphas,
        alpha_trajectory=alpha_trajectory,
        alpha_probe=alpha_probe,
        evaluation=evaluation,
        dataset_frames=dataset_frames,
        epochs=epochs,
        history=history,
        training=training,
        world_size=world_size,
        numerics=run_numerics(cfg.policy.base_precision, cfg.policy.train_precision, device, cfg.run.tf32),
    )
    run.write_results(results.to_json())
    return parse_results(json.loads(run.results_path.read_text()), summary)  # as every reader will see them
