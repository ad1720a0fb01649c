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
    data_key: str | None = None  # the dotted key of its amount of training data, which reports group by
    data_unit: str = ""  # that amount's unit in group labels
    output_key: str | None = None  # a job that writes one file, not a run folder: the key a sweep points at it
    cell_metrics: tuple[str, ...] = ("success", "SPL", "α")  # the sweep table's columns
    imitation: bool = False  # learns from expert trajectories in epochs: reports draw Fig. 3c and its loss curves

    @property
    def own_section(self) -> str | None:
        """The section only this job's configs have (a saved config's job is the one whose section it holds)."""
        return self.data_key.split(".")[0] if self.data_key else None

    def data_size(self, size: object) -> str:
        """Its amount of data as reports write it: '300,000 frames' (PPO), 'N=490' (BC)."""
        return f"{size:,}{self.data_unit}" if self.data_unit == " frames" else f"N={size}"

    @property
    def preset(self) -> str:
        """The name of the preset (configs/<name>.yaml) this job's script starts from."""
        return self.name


TRAINERS: Registry[TrainerSpec] = Registry("trainer")
trainer_names = TRAINERS.names
trainer_spec = TRAINERS.spec
find_trainer = TRAINERS.get  # None for a name that is no job (a report's 'reference' or 'policy' rows)


def is_imitation(kind: object) -> bool:
    """Whether results of job ``kind`` (a results.json ``kind``) come from imitation (BC): Fig. 3c's runs."""
    spec = find_trainer(str(kind))
    return spec is not None and spec.imitation


def trainer_of_config(tree: Mapping[str, object]) -> TrainerSpec | None:
    """The job a saved config tree belongs to (the one whose own section it holds), None for a policy-only one."""
    return next((spec for name in trainer_names() if (spec := trainer_spec(name)).own_section in tree), None)


POLICY_AXES = {"method": "policy.method", "base": "policy.base"}

TRAINERS.register(
    TrainerSpec(
        "bc",
        "behaviour cloning of the shortest-path expert (scripts/bc.py)",
        ("run", "policy", "eval", "bc"),
        "scripts/bc.py",
        "results.json",
        "checkpoints/bc_state.pt",
        {**POLICY_AXES, "trajectories": "bc.trajectories", "seed": "run.seed"},
        data_key="bc.trajectories",
        data_unit=" traj",
        imitation=True,
    )
)
TRAINERS.register(
    TrainerSpec(
        "ppo",
        "PPO on the batched env (scripts/train_ppo.py)",
        ("run", "policy", "eval", "ppo", "train"),
        "scripts/train_ppo.py",
        "results.json",
        "checkpoints/last.zip",
        {**POLICY_AXES, "frames": "ppo.total_frames", "seed": "run.seed"},
        data_key="ppo.total_frames",
        data_unit=" frames",
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
        output_key="pretrain.out",
        cell_metrics=("held-out loss", "trivial loss", "train loss"),
    )
)
TRAINERS.register(
    TrainerSpec(
        "evaluate",
        "held-out evaluation and the reference rows (scripts/evaluate.py)",
        ("run", "policy", "eval"),
    )
)
