"""The observation pipeline every trainer and the evaluator share: task -> SB3 VecEnv -> monitor -> frame stack.

Training, behaviour cloning and evaluation must see identical observations, so the wrappers are built
here once, from the run config (the `env:` section plus the top-level `frame_stack`).
"""

from __future__ import annotations

from typing import Any, Mapping

from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecMonitor

from envs.config import EnvConfig
from envs.factory import make_sb3_vec_env


def env_config_from(cfg: Mapping[str, Any], **changes: Any) -> EnvConfig:
    """The EnvConfig of a run config's `env:` section, with optional field changes (e.g. split)."""
    from agents.config_loader import to_container

    values = dict(to_container(cfg).get("env") or {})
    values.update(changes)
    return EnvConfig.from_dict(values)


def frame_stack_of(cfg: Mapping[str, Any]) -> int:
    """Frames stacked per observation (the paper: 4; CPU presets: 1)."""
    k = int(cfg.get("frame_stack", 1) or 1)
    if k < 1:
        raise ValueError(f"frame_stack={k} must be >= 1")
    return k


def stack_frames(venv: VecEnv, k: int) -> VecEnv:
    """Stack the last ``k`` observations: images along channels (first axis), vectors along their axis."""
    if k == 1:
        return venv
    orders = {key: ("first" if len(space.shape) == 3 else "last") for key, space in venv.observation_space.spaces.items()}
    return VecFrameStack(venv, n_stack=k, channels_order=orders)


def make_vec_env(
    cfg: Mapping[str, Any],
    num_envs: int,
    split: str,
    seed: int,
    sampling: str = "random",
) -> VecEnv:
    """The batched env of a run config, as the policy sees it (monitored and frame-stacked)."""
    env_cfg = env_config_from(cfg, split=split)
    venv = make_sb3_vec_env(env_cfg, num_envs, split=split, seed=seed, sampling=sampling)
    venv = VecMonitor(venv)
    return stack_frames(venv, frame_stack_of(cfg))


def unwrap_task(venv: VecEnv) -> Any:
    """The PointNavTask under any SB3 wrappers (for metrics, expert actions and videos)."""
    inner = venv
    while hasattr(inner, "venv"):
        inner = inner.venv
    return inner.task
