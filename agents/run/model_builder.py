"""Build, save and load the one SB3 model every trainer and the evaluator share.

The model is a `SideTunePPO` (SB3's PPO with the toolkit's rollout, agents/trainers/sidetune_ppo.py). PPO trains
it, behaviour cloning trains its policy with a supervised loss, and the evaluator loads either through the same
`load_model`, so a BC checkpoint can be evaluated or fine-tuned with PPO unchanged.
Checkpoints are SB3 ``.zip`` files written atomically under ``<run>/checkpoints/``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecEnv

from agents.trainers.sidetune_ppo import SideTunePPO
from common.atomic_io import atomic_path, signals_held
from common.config import ConfigError
from common.errors import DiskFullError, EnvironmentSetupError, UserError
from policies.extractor import policy_kwargs as extractor_policy_kwargs
from policies.sb3_policy import SideTunePolicy

if TYPE_CHECKING:
    from agents.run.run_config import RunConfig

CHECKPOINT_NAMES = ("best.zip", "last.zip")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # the disk, the user's quota or the file size limit
DEFAULT_ADAM_EPS = 1e-5  # configs without a ppo: section (behaviour cloning) build the model with this


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, corrupt, or made for another observation space."""


def resolve_device(name: str = "auto") -> str:
    """'auto' -> 'cuda' when available else 'cpu'; 'cuda' without CUDA is an error naming the fix."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise EnvironmentSetupError(
            "run.device", "cuda was asked for but CUDA is not available", "use --device cpu or auto"
        )
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError("run.device", f"{name!r} is unknown", "use auto, cpu or cuda")
    return name


def build_model(
    cfg: RunConfig,
    venv: VecEnv,
    device: str = "auto",
    tensorboard_log: str | None = None,
    store_base_features: bool = True,
) -> SideTunePPO:
    """A fresh PPO model on ``venv`` whose policy uses the side-tuning extractor of ``cfg.policy`` (SB3 arguments
    from ``cfg.ppo`` when the config has that section, SB3's defaults otherwise). ``store_base_features=False``
    recomputes a frozen base in every epoch of the update, as SB3 does, instead of storing its rollout features."""
    cfg.require("run", "policy")
    kwargs = extractor_policy_kwargs(cfg.policy)
    kwargs["optimizer_kwargs"] = {
        **kwargs.get("optimizer_kwargs", {}),
        "eps": cfg.ppo.adam_eps if cfg.ppo is not None else DEFAULT_ADAM_EPS,
    }
    model = SideTunePPO(
        SideTunePolicy,
        venv,
        policy_kwargs=kwargs,
        device=resolve_device(device),
        tensorboard_log=tensorboard_log,
        seed=cfg.run.seed,
        verbose=0,
        store_base_features=store_base_features,
        **(cfg.ppo.sb3_kwargs() if cfg.ppo is not None else {}),
    )
    return model if tensorboard_log is not None else silence_logger(model)


def silence_logger(model: PPO) -> PPO:
    """Give ``model`` a logger that writes nothing, so ``learn`` does not make one of its own: SB3's default
    creates a ``SB3-<time>`` folder in the temp directory on every ``learn`` (benchmarks and tests left dozens).
    The trainers set their TensorBoard logger over it."""
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def save_model(model: PPO, path: str | Path) -> Path:
    """Save an SB3 model atomically (a crash never leaves a half-written zip); a full disk is a DiskFullError
    that leaves the previous file at ``path`` as it was. Ctrl-C and SIGTERM wait for the few seconds of the
    write: raised inside torch.save's zip writer they would surface as its RuntimeError instead."""
    path = Path(path)
    with signals_held(), checkpoint_disk_full(path), atomic_path(path) as tmp:
        write_model(model, tmp)
    return path


def write_model(model: PPO, path: str | Path) -> None:
    """Write an SB3 model's zip to exactly ``path`` (SB3 given a path would append .zip to its name)."""
    with open(path, "wb") as handle:
        model.save(handle)


@contextlib.contextmanager
def checkpoint_disk_full(path: str | Path) -> Iterator[None]:
    """Turn a full disk (or quota, or file size limit) while writing ``path`` (a checkpoint, or a run's
    ``checkpoints/`` folder for a set of files) into a DiskFullError naming the run folder and ``--resume``; the
    caller writes atomically, so the checkpoint before it is intact."""
    try:
        yield
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        path = Path(path)
        run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        raise DiskFullError(
            "run folder",
            f"cannot write {path} ({os.strerror(err.errno)}); the checkpoint before it is intact",
            f"free some space, then continue with --resume {run}",
        ) from None


def find_checkpoint(run_or_file: str | Path, prefer: str = "best") -> Path:
    """A checkpoint file: the path itself, or ``<run>/checkpoints/{best,last}.zip`` (preferring ``prefer``)."""
    path = Path(run_or_file)
    if path.is_file():
        return path
    folder = path / "checkpoints"
    names = sorted(CHECKPOINT_NAMES, key=lambda n: n != f"{prefer}.zip")
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(
        f"no checkpoint in {path}: expected {folder}/best.zip or last.zip; train first, or pass a checkpoint file"
    )


def load_model(path: str | Path, device: str = "auto", env: VecEnv | None = None) -> SideTunePPO:
    """Load an SB3 checkpoint (on ``env`` when given, its rollout buffer picked for it); corrupt files and
    observation-space mismatches get clear errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated (not a zip); use another checkpoint of the run"
        )
    try:
        model = SideTunePPO.load(path, env=None, device=resolve_device(device))
    except Exception as err:  # SB3 raises many kinds here
        raise CheckpointError(f"checkpoint {path} could not be loaded ({type(err).__name__}: {err})") from None
    silence_logger(model)
    if env is not None:
        check_spaces(model, env, str(path))
        model.set_env(env)
    return model


def check_spaces(model: PPO, env: VecEnv, where: str) -> None:
    """Raise CheckpointError when the env's observation or action space differs from the model's."""
    for name in ("observation_space", "action_space"):
        have, want = getattr(env, name), getattr(model, name)
        if have != want:
            raise CheckpointError(
                f"{where} was trained with {name} {want}, but this env gives {have}; use the run's own config "
                f"(resolution, sensors, frame_stack, auto_stop) to evaluate or continue it"
            )
