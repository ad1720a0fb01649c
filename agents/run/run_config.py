"""The typed run configuration: one dataclass per YAML section, built once and checked before anything runs.

``RunConfig.from_dict`` reads the resolved YAML tree (configs/*.yaml < --config < flags < key=value, see
agents/run/config_loader.py) through ``envs.config.parse_section``, so a wrong key, type or value anywhere is a
``ConfigError`` reading ``<dotted.key>: <problem> (<fix>)`` before a run folder exists. Trainers, the
evaluator and pretraining read fields of these dataclasses; ``RunConfig.to_dict`` is what a run folder's
config.yaml holds, and reading that file back gives the same RunConfig (--resume, evaluation).

Which sections a script needs differs (pretraining has no policy, PPO no bc), so every section but ``env``
is optional here and a script names the ones it needs (``require``).
"""

from __future__ import annotations

import dataclasses
import typing
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.config import ConfigError, check_choice, check_range, check_resolution, coerce, opt, parse_section
from envs.config import EnvConfig
from policies.methods import SAVED_POLICY_VALUES, PolicyConfig

DEVICES = ("auto", "cpu", "cuda")
CHECKPOINTS = ("best", "last")
STORAGES = ("poses", "frames")
AUGMENTATIONS = ("none", "color")


@dataclass
class RunSettings:
    """The `run:` section: where the run folder goes, the seed and the device."""

    experiment: str = opt("default", "the run folder is <runs_root>/<experiment>/<name>/")
    name: str | None = opt(None, "the run's folder name; null: a timestamp")
    runs_root: str = opt("runs", "the folder that holds every experiment's runs")
    seed: int = opt(0, "seeds the envs, the policy's initialisation and PPO/BC's sampling")
    device: str = opt("auto", "torch device of the policy: auto (cuda when available) | cpu | cuda")
    # Off: the fp32 parts (rollout forward passes, fp32 updates) keep full fp32 as results.json's numerics state, and
    # CUDA runs compare with CPU runs; the costly convolutions already run in bf16 under 'auto' on GPUs with native
    # bf16, so TF32 buys little there. On: faster fp32 convolutions and matrix products on Ampere and newer GPUs.
    tf32: bool = opt(False, "TF32 for fp32 matrix products and convolutions on CUDA (faster, 10-bit mantissa)")

    def __post_init__(self) -> None:
        check_choice(self.device, DEVICES, "run.device")
        if not self.experiment or "/" in self.experiment:
            raise ConfigError(
                "run.experiment", f"{self.experiment!r} is not a folder name", "use a plain name such as ppo"
            )


@dataclass
class PPOSettings:
    """The `ppo:` section: SB3 PPO keyword arguments plus the frame budget and Adam's eps."""

    total_frames: int = opt(300_000, "env frames to train for (the paper's Fig. 3d: 10M)")
    learning_rate: float = opt(2.5e-4, "Adam's learning rate (paper 1e-4 over 10M frames; higher for a short run)")
    n_steps: int = opt(128, "steps per env per rollout; rollout = n_steps x train.num_envs frames")
    batch_size: int = opt(256, "minibatch size of the update")
    n_epochs: int = opt(2, "passes over each rollout (SB3's default 10; the update dominates a CPU run's cost)")
    gamma: float = opt(0.99, "discount factor")
    gae_lambda: float = opt(0.95, "GAE's lambda")
    clip_range: float = opt(0.2, "PPO's clipping range (paper 0.1)")
    ent_coef: float = opt(0.01, "entropy bonus (paper 1e-4; more exploration for a short run)")
    vf_coef: float = opt(0.5, "value-loss weight (SB3's default with a shared trunk; paper 1e-3 at its scaling)")
    max_grad_norm: float = opt(0.5, "gradient-norm clip")
    adam_eps: float = opt(1e-5, "Adam's eps (optimizer_kwargs)")

    def __post_init__(self) -> None:
        check_range(self.total_frames, "ppo.total_frames", 0)
        check_range(self.learning_rate, "ppo.learning_rate", 0, low_open=True)
        check_range(self.n_steps, "ppo.n_steps", 1)
        check_range(self.n_epochs, "ppo.n_epochs", 1)
        check_range(self.gamma, "ppo.gamma", 0, 1)
        check_range(self.gae_lambda, "ppo.gae_lambda", 0, 1)
        check_range(self.clip_range, "ppo.clip_range", 0, low_open=True)
        check_range(self.ent_coef, "ppo.ent_coef", 0)
        check_range(self.vf_coef, "ppo.vf_coef", 0)
        check_range(self.max_grad_norm, "ppo.max_grad_norm", 0, low_open=True)
        check_range(self.adam_eps, "ppo.adam_eps", 0, low_open=True)

    def sb3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of SB3's PPO (everything but total_frames and adam_eps)."""
        values = dataclasses.asdict(self)
        for key in ("total_frames", "adam_eps"):
            values.pop(key)
        return values


@dataclass
class TrainSettings:
    """The `train:` section: PPO trainer settings that are not SB3 arguments."""

    num_envs: int = opt(8, "batched envs stepped together (one process, no subprocesses)")
    checkpoint_every: int = opt(20_000, "frames between checkpoints/last.zip (rounded up to whole rollouts)")
    eval_every: int = opt(25_000, "frames between held-out evaluations (0: none); best.zip follows the best one")
    eval_episodes_per_building: int | None = opt(3, "periodic evaluation: the first K held-out episodes per building")
    eval_at_start: bool = opt(
        True, "evaluate the untrained policy too (the curve's 0-frame point) in a run of at least eval_every frames"
    )
    milestones: list[int] = opt(
        [],
        "frames (rounded up to whole rollouts) at which the policy is kept as checkpoints/frames-<N>.zip and "
        "evaluated like the final one (eval.episodes_per_building) -> milestones/frames-<N>.json",
    )
    final_eval: bool = opt(True, "evaluate the final policy on eval.episodes_per_building -> results.json")
    init_from: str | None = opt(None, "a run folder or checkpoint (e.g. behaviour cloning) whose weights start PPO")
    threads: int | None = opt(None, "torch CPU threads; null: torch's default (all cores)")
    progress_bar: bool = opt(True, "show a progress bar")
    max_minutes: float | None = opt(None, "stop (checkpoint, final evaluation) after this many minutes; null: no limit")

    def __post_init__(self) -> None:
        check_range(self.num_envs, "train.num_envs", 1)
        check_range(self.checkpoint_every, "train.checkpoint_every", 0)
        check_range(self.eval_every, "train.eval_every", 0)
        check_range(self.eval_episodes_per_building, "train.eval_episodes_per_building", 1)
        for frames in self.milestones:
            check_range(frames, "train.milestones", 1)
        check_range(self.threads, "train.threads", 1)
        check_range(self.max_minutes, "train.max_minutes", 0, low_open=True)


@dataclass
class BCSettings:
    """The `bc:` section: the trajectory pool, the epochs and the optimiser of behaviour cloning."""

    trajectories: int = opt(490, "the first N trajectories of the pool (--trajectories): 49 / 490 / 4900 / 49000")
    pool_dir: str | None = opt(None, "null: data/trajectories/<backend>-r<resolution>-seed<pool_seed>")
    pool_seed: int = opt(0, "fixes the pool's episode order; every N is a prefix of the same pool")
    storage: str = opt("poses", "poses (re-rendered; embedded) | frames (stored uint8 frames; forced for habitat)")
    shard_size: int = opt(500, "trajectories per shard file")
    generate: bool = opt(True, "make or extend the pool when it holds fewer than N (false: an error instead)")
    generate_envs: int = opt(32, "batched agents when generating the pool")
    epochs: int | None = opt(None, "null: from epochs_schedule (the largest threshold <= trajectories)")
    epochs_schedule: list[list[int]] = opt(
        [[49, 60], [490, 10], [4900, 2], [49000, 1]],
        "[trajectories, epochs] pairs; the paper's 3000/600/100/12 epochs shrunk to about 1/50 of its frames",
    )
    batch_size: int = opt(64, "samples per step")
    learning_rate: float = opt(2.0e-4, "Adam's learning rate")
    weight_decay: float = opt(4.0e-7, "weight decay (0 for α, the merge logit)")
    grad_clip: float = opt(1.0, "gradient-norm clip")
    entropy_coef: float = opt(0.0, "> 0 adds -coef x policy entropy to the loss")
    val_fraction: float = opt(0.0, "trajectories held out for validation (by trajectory); 0: train on all")
    patience: int = opt(0, "epochs without validation improvement before stopping (0: never, fixed epochs)")
    augment: str = opt("none", "none | color (brightness/offset jitter of the frames; not with the feature cache)")
    feature_cache: bool = opt(True, "frozen-base methods: base features computed once, in an fp16 memmap")
    cache_dir: str | None = opt(None, "the feature cache's folder; null: <pool_dir>/feature_cache")
    max_batches_per_epoch: int | None = opt(None, "cap on batches per epoch (tests, benchmarks); null: whole epoch")
    eval_every: int = opt(0, "epochs between held-out evaluations during training (0: only the final one)")
    eval_episodes_per_building: int | None = opt(3, "periodic evaluation size; the final one uses eval's")
    threads: int | None = opt(None, "torch CPU threads; null: torch's default")

    def __post_init__(self) -> None:
        check_range(self.trajectories, "bc.trajectories", 1)
        check_choice(self.storage, STORAGES, "bc.storage")
        check_range(self.shard_size, "bc.shard_size", 1)
        check_range(self.generate_envs, "bc.generate_envs", 1)
        check_range(self.epochs, "bc.epochs", 1)
        if not self.epochs_schedule or any(
            len(pair) != 2 or pair[0] < 1 or pair[1] < 1 for pair in self.epochs_schedule
        ):
            raise ConfigError(
                "bc.epochs_schedule",
                f"{self.epochs_schedule!r} is not a list of [trajectories, epochs] pairs",
                "write pairs of positive integers, e.g. [[49, 30], [490, 6]]",
            )
        check_range(self.batch_size, "bc.batch_size", 1)
        check_range(self.learning_rate, "bc.learning_rate", 0, low_open=True)
        check_range(self.weight_decay, "bc.weight_decay", 0)
        check_range(self.grad_clip, "bc.grad_clip", 0, low_open=True)
        check_range(self.entropy_coef, "bc.entropy_coef", 0)
        check_range(self.val_fraction, "bc.val_fraction", 0, 1, high_open=True)
        check_range(self.patience, "bc.patience", 0)
        check_choice(self.augment, AUGMENTATIONS, "bc.augment")
        check_range(self.max_batches_per_epoch, "bc.max_batches_per_epoch", 1)
        check_range(self.eval_every, "bc.eval_every", 0)
        check_range(self.eval_episodes_per_building, "bc.eval_episodes_per_building", 1)
        check_range(self.threads, "bc.threads", 1)

    @property
    def planned_epochs(self) -> int:
        """`epochs`, or from `epochs_schedule` when null: the epochs of the largest threshold <= trajectories."""
        if self.epochs is not None:
            return self.epochs
        schedule = sorted((int(a), int(b)) for a, b in self.epochs_schedule)
        return next((e for t, e in reversed(schedule) if self.trajectories >= t), schedule[0][1])


@dataclass
class EvalSettings:
    """The `eval:` section: the held-out evaluation (agents/evaluation/evaluate.py)."""

    split: str = opt(
        "heldout", "heldout: the 14 held-out buildings (verdicts); train_val: the validation ones (design choices)"
    )
    episodes_per_building: int | None = opt(
        30, "the first K episodes of each building, in file order (14 x 30 = 420); null: all"
    )
    num_envs: int = opt(14, "envs stepped together (batching only; each episode runs exactly once)")
    deterministic: bool = opt(False, "false: actions sampled from the policy, as the paper evaluated; true: argmax")
    seed: int = opt(0, "seeds action sampling (and the random reference policy)")
    videos: int = opt(0, "MP4s of the first K evaluated episodes (RGB | visited map | top-down map)")
    video_fps: float = opt(10.0, "frames per second of those videos")
    checkpoint: str = opt("best", "which checkpoint of a run folder: best | last (falls back to the other)")
    device: str = opt("auto", "auto | cpu | cuda")
    alpha_probe_episodes: int = opt(
        5, "after training with a learned α: held-out action loss with α forced to 0/0.5/1 on K episodes per building"
    )

    def __post_init__(self) -> None:
        check_range(self.episodes_per_building, "eval.episodes_per_building", 1)
        check_range(self.alpha_probe_episodes, "eval.alpha_probe_episodes", 0)
        check_range(self.num_envs, "eval.num_envs", 1)
        check_range(self.videos, "eval.videos", 0)
        check_range(self.video_fps, "eval.video_fps", 0, low_open=True)
        check_choice(self.checkpoint, CHECKPOINTS, "eval.checkpoint")
        check_choice(self.device, DEVICES, "eval.device")

    def replace(self, **changes: Any) -> EvalSettings:
        """A copy with the non-None ``changes`` applied and checked (command-line flags, keyword overrides)."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        kept = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key not in fields:
                raise ConfigError(f"eval.{key}", "unknown key", f"valid keys of eval: {', '.join(fields)}")
            kept[key] = coerce(value, _hints(EvalSettings)[key], f"eval.{key}")
        return dataclasses.replace(self, **kept)


@dataclass
class PretrainSettings:
    """The `pretrain:` section: base-encoder pretraining (scripts/pretrain_base.py)."""

    task: str = opt("curvature", "the pretraining task (--task)")
    arch: str = opt("compact", "compact | taskonomy (alias resnet50) (--arch)")
    resolution: int = opt(128, "square image side for pretraining; a multiple of 16")
    train_images: int = opt(4000, "images rendered from training buildings (random navigable poses), in memory")
    heldout_images: int = opt(256, "images from held-out buildings: evaluation and pictures only")
    steps: int = opt(1500, "Adam steps (cosine decay of the learning rate to 5 %)")
    batch_size: int = opt(32, "images per step")
    learning_rate: float = opt(0.001, "Adam's peak learning rate")
    seed: int = opt(0, "data seed (poses, corruption, batches) and weight-init seed")
    threads: int | None = opt(None, "torch CPU threads; null: torch's default")
    log_every: int = opt(25, "steps per point of the recorded loss curve")
    out: str | None = opt(None, "null: policies/weights/{task}_{arch}.pth; the .json and .decoder.pth go beside it")
    init_from: str | None = opt(None, "continue from a previous run's .pth (+ its .decoder.pth)")

    def __post_init__(self) -> None:
        from agents.pretraining.tasks import pretrain_task_names
        from policies.bases import ARCH_ALIASES, ARCHITECTURES

        check_choice(self.task, pretrain_task_names(), "pretrain.task")
        check_choice(self.arch, sorted(ARCHITECTURES) + sorted(ARCH_ALIASES), "pretrain.arch")
        check_resolution(self.resolution, "pretrain.resolution")
        for name in ("train_images", "heldout_images", "steps", "batch_size", "log_every"):
            check_range(getattr(self, name), f"pretrain.{name}", 1)
        check_range(self.learning_rate, "pretrain.learning_rate", 0, low_open=True)
        check_range(self.threads, "pretrain.threads", 1)


SECTIONS: dict[str, type] = {
    "run": RunSettings,
    "env": EnvConfig,
    "policy": PolicyConfig,
    "eval": EvalSettings,
    "ppo": PPOSettings,
    "train": TrainSettings,
    "bc": BCSettings,
    "pretrain": PretrainSettings,
}


@dataclass
class RunConfig:
    """A whole job's settings; ``env`` always, the other sections when the job's YAML has them."""

    env: EnvConfig = field(default_factory=EnvConfig)
    run: RunSettings | None = None
    policy: PolicyConfig | None = None
    frame_stack: int = opt(1, "frames stacked per observation by SB3's VecFrameStack (paper: 4)")
    eval: EvalSettings | None = None
    ppo: PPOSettings | None = None
    train: TrainSettings | None = None
    bc: BCSettings | None = None
    pretrain: PretrainSettings | None = None

    @classmethod
    def from_dict(cls, tree: Mapping[str, Any], require: Sequence[str] = ()) -> RunConfig:
        """Parse and check a resolved plain config tree; ``require`` names sections that must be present."""
        cfg = parse_section(cls, dict(tree), "")
        cfg.require(*require)
        cfg.check()
        return cfg

    def check(self) -> None:
        """Checks that span sections (they need more than one field to decide)."""
        check_range(self.frame_stack, "frame_stack", 1)
        if self.policy is not None:
            check_policy(self.policy, self.env)
        if self.ppo is not None and self.train is not None:
            rollout = self.ppo.n_steps * self.train.num_envs
            if not 2 <= self.ppo.batch_size <= rollout:
                raise ConfigError(
                    "ppo.batch_size",
                    f"{self.ppo.batch_size} does not fit the rollout",
                    f"use 2 to ppo.n_steps x train.num_envs = {rollout}",
                )
        if self.eval is not None:
            from envs.factory import check_split

            check_split(self.env, self.eval.split, "eval.split")
        if self.env.buildings is not None:
            check_buildings(self.env, [self.env.split] + ([self.eval.split] if self.eval is not None else []))
        if self.pretrain is not None and self.pretrain.init_from is not None:
            check_weights_file(Path(self.pretrain.init_from).expanduser(), "pretrain.init_from")

    def require(self, *names: str) -> None:
        """Raise a ConfigError unless every named section is present."""
        for name in names:
            if getattr(self, name) is None:
                raise ConfigError(
                    name, "section missing", f"start from a file in configs/ that has a `{name}:` section"
                )

    def to_dict(self) -> dict[str, Any]:
        """The plain tree written to a run folder's config.yaml (absent sections left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = (
                value.to_dict()
                if hasattr(value, "to_dict")
                else (dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
            )
        return out


def complete_saved_config(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A run's saved config tree with the fields it lacks set to what that run ran with (a policy section: see
    ``PolicyConfig.from_saved``)."""
    out = dict(tree)
    if isinstance(out.get("policy"), Mapping):
        out["policy"] = {**SAVED_POLICY_VALUES, **out["policy"]}
    return out


def _hints(cls: type) -> dict[str, Any]:
    """Resolved field types of a dataclass (its annotations are strings under ``from __future__``)."""
    return typing.get_type_hints(cls)


def check_buildings(env: EnvConfig, splits: Sequence[str]) -> None:
    """Every name in env.buildings exists, and each split the job uses keeps at least one of them."""
    from envs.factory import building_names

    known = {split: building_names(env, split) for split in dict.fromkeys(splits)}
    if known and all(names is None for names in known.values()):
        return  # the backend lists its buildings only when it loads the episodes (Habitat)
    every = {name for names in known.values() if names for name in names}
    for name in env.buildings or []:
        if name not in every and name not in _all_buildings(env):
            examples = ", ".join(sorted(every)[:3])
            raise ConfigError(
                "env.buildings", f"unknown building {name!r}", f"use names of the catalogue, e.g. {examples}"
            )
    for split, names in known.items():
        if names is not None and not set(env.buildings or []) & set(names):
            raise ConfigError(
                "env.buildings",
                f"none of {env.buildings} is in the {split} split this job uses",
                f"add {split} buildings (e.g. {', '.join(names[:2])}) or set env.buildings=null",
            )


def _all_buildings(env: EnvConfig) -> set[str]:
    """Every building name of the backend's catalogue (all splits)."""
    from envs.backends import backend_spec
    from envs.factory import building_names

    return {name for split in backend_spec(env.backend).splits or () for name in (building_names(env, split) or [])}


def check_policy(policy: PolicyConfig, env: EnvConfig) -> None:
    """The `policy:` rules that need the file system or the env (each field's own rule is checked when the
    PolicyConfig is built): the policy's smallest image, the weights files exist and load, and a pretrained
    base fits env.resolution."""
    from policies.bases import pretrained_base_names
    from policies.contract import MIN_POLICY_RESOLUTION

    if env.resolution < MIN_POLICY_RESOLUTION:
        raise ConfigError(
            "env.resolution",
            f"{env.resolution} is too small for a policy (its 1/16 feature map would be 1x1)",
            f"use {MIN_POLICY_RESOLUTION} or more; {env.resolution} suits pretraining and rendering only",
        )

    if policy.side_init == "distill" and not policy.side_weights and policy.base not in pretrained_base_names():
        raise ConfigError(
            "policy.side_weights",
            f"missing for side_init=distill with base {policy.base!r} "
            "(only the shipped bases have shipped distilled sides)",
            "give the distilled side checkpoint's path, or policy.side_init=auto",
        )
    if policy.base not in (*pretrained_base_names(), "random"):
        path = Path(policy.base).expanduser()
        if not path.is_file():
            raise ConfigError(
                "policy.base",
                f"{policy.base!r} is neither a shipped base nor an existing file",
                f"use one of {', '.join(pretrained_base_names())}, random, or the path of an encoder checkpoint",
            )
        check_weights_file(path, "policy.base")
    if policy.side_weights:
        check_weights_file(Path(policy.side_weights).expanduser(), "policy.side_weights")
    check_base_resolution(policy, env)


def check_base_resolution(policy: PolicyConfig, env: EnvConfig) -> None:
    """A pretrained base runs at the resolution it was pretrained at, unless allowed: the loader's rule
    (policies.checkpoints.check_checkpoint_metadata), checked before any run folder exists and worded as a
    config error on env.resolution."""
    from policies.bases import resolve_weights
    from policies.checkpoints import ResolutionMismatchError, check_checkpoint_metadata
    from policies.methods import method_spec

    loads_base = method_spec(policy.method).pretrained_base or policy.side_init == "copy"
    if policy.allow_resolution_mismatch or not loads_base:
        return  # allowed, or no pretrained weights are loaded
    try:
        path = resolve_weights(policy.base, policy.base_arch)
    except FileNotFoundError:
        return  # a missing base is reported where it is loaded
    if path is None:
        return
    try:
        check_checkpoint_metadata(path, resolution=env.resolution)
    except ResolutionMismatchError as err:
        raise ConfigError(
            "env.resolution",
            f"{env.resolution} but base {policy.base!r} was pretrained at {err.trained}x{err.trained}",
            err.fix,
        ) from None


def check_weights_file(path: Path, where: str) -> None:
    """A truncated or foreign weights file is a ConfigError naming ``where`` (not a pickle traceback later)."""
    from policies.checkpoints import read_state_dict

    if not path.is_file():
        raise ConfigError(where, f"{str(path)!r} does not exist", "give the path of an encoder checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickle headers before failing: the error says it all
            warnings.simplefilter("ignore")
            read_state_dict(path)
    except Exception as err:  # torch.load raises UnpicklingError, RuntimeError, EOFError, OSError, ...
        problem = " ".join(str(err).split())[:160]
        raise ConfigError(
            where,
            f"{str(path)!r} is not a readable weights file ({type(err).__name__}: {problem})",
            "pass a checkpoint written by scripts/pretrain_base.py or a visualpriors .pth",
        ) from None
