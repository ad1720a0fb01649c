"""The registered jobs a preset can configure (PPO, behaviour cloning, base pretraining, the evaluator's reference
rows): which config sections each needs, and how a sweep drives it (its script, the files that mark a finished
or resumable run, its named grid axes). The config loader, the sweeps and the reports ask this table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from common.registry import Registry


@dataclass(frozen=True)
class TrainerSpec:
    """One job: the config sections it reads beside ``env`` and ``frame_stack``, and how a sweep runs it."""

    name: str
    description: str
    sections: tuple[str, ...]
    script: str | None = None  # relative to the repository root; None: not a sweep trainer
    done_file: str | None = None  # written last by a finished run
    checkpoint: str | None = None  # present once a run can be resumed with --resume (None: not resumable)
    axes: Mapping[str, str] = field(default_factory=dict)  # a sweep's short axis name -> dotted config key
    extra_args: tuple[str, ...] = ("--no-progress",)

    @property
    def preset(self) -> str:
        """The name of the preset (configs/<name>.yaml) this job's script starts from."""
        return self.name


TRAINERS: Registry[TrainerSpec] = Registry("trainer")
trainer_names = TRAINERS.names
trainer_spec = TRAINERS.spec

POLICY_AXES = {"method": "policy.method", "base": "policy.base"}

TRAINERS.register(
    TrainerSpec(
        "ppo",
        "PPO on the batched env (scripts/train_ppo.py)",
        ("run", "policy", "eval", "ppo", "train"),
        "scripts/train_ppo.py",
        "results.json",
        "checkpoints/last.zip",
        {**POLICY_AXES, "frames": "ppo.total_frames", "seed": "run.seed"},
    )
)
TRAINERS.register(
    TrainerSpec(
        "bc",
        "behaviour cloning of the shortest-path expert (scripts/bc.py)",
        ("run", "policy", "eval", "bc"),
        "scripts/bc.py",
        "results.json",
        "checkpoints/bc_state.pt",
        {**POLICY_AXES, "trajectories": "bc.trajectories", "seed": "run.seed"},
    )
)
TRAINERS.register(
    TrainerSpec(
        "pretrain",
        "base-encoder pretraining on training buildings (scripts/pretrain_base.py)",
        ("pretrain",),
        "scripts/pretrain_base.py",
        "encoder.json",
        None,
        {"task": "pretrain.task", "arch": "pretrain.arch", "seed": "pretrain.seed"},
    )
)
TRAINERS.register(
    TrainerSpec(
        "evaluate",
        "held-out evaluation and the reference rows (scripts/evaluate.py)",
        ("run", "policy", "eval"),
    )
)
