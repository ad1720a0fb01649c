"""The observation pipeline every trainer and the evaluator share: task -> SB3 VecEnv -> monitor -> frame stack.

Training, behaviour cloning and evaluation must see identical observations, so the wrappers are built
here once, from the run config (the `env:` section plus the top-level `frame_stack`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stable_baselines3.common.vec_env import VecEnv, VecFrameStack, VecMonitor

from envs.factory import make_sb3_vec_env

if TYPE_CHECKING:
    from agents.run.run_config import RunConfig


def stack_frames(venv: VecEnv, k: int) -> VecEnv:
    """Stack the last ``k`` observations: images along channels (first axis), vectors along their axis."""
    if k == 1:
        return venv
    orders = {
        key: ("first" if len(space.shape) == 3 else "last") for key, space in venv.observation_space.spaces.items()
    }
    return VecFrameStack(venv, n_stack=k, channels_order=orders)


def make_vec_env(
    cfg: RunConfig,
    num_envs: int,
    split: str,
    seed: int,
    sampling: str = "random",
    per_building: int | None = None,
) -> VecEnv:
    """The batched env of a run config, as the policy sees it (monitored and frame-stacked); ``per_building``
    keeps the first K episodes of each building (evaluation)."""
    venv = make_sb3_vec_env(cfg.env, num_envs, split=split, seed=seed, sampling=sampling, per_building=per_building)
    venv = VecMonitor(venv)
    return stack_frames(venv, cfg.frame_stack)


def unwrap_task(venv: VecEnv) -> Any:
    """The PointNavTask under any SB3 wrappers (for metrics, expert actions and videos)."""
    inner = venv
    while hasattr(inner, "venv"):
        inner = inner.venv
    return inner.task
