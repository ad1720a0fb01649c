"""The Python API of the presets: the same config and the same model the command line builds.

    from agents.run.presets import build_model, load_config, make_env

    cfg = load_config("ppo", ["policy.base=denoising"])  # what `train_ppo.py policy.base=denoising` resolves
    env = make_env(cfg)                                   # the trainers' batched env (monitored, frame-stacked)
    model = build_model(cfg, env)                         # SB3 PPO with the side-tuning policy, as trainers build it

A preset is a name of configs/ (``ppo``, ``ppo_gpu``, ``bc``, ``pretrain``, ``evaluate``) or a config file; the
habitat-baselines plugin resolves its policy through the same loader (sidetune_habitat_baselines/policy_config.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from agents.run.config_loader import load_run_config, preset_names
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import build_model as _build_model
from agents.run.run_config import RunConfig

__all__ = ["build_model", "load_config", "make_env", "preset_names"]


def load_config(
    preset: str | Path = "ppo", overrides: Iterable[str] = (), config_file: str | Path | None = None
) -> RunConfig:
    """The typed, checked config of ``preset`` with ``config_file`` and ``key=value`` ``overrides`` over it: the
    dataclass defaults < preset < file < overrides, exactly as the scripts resolve their command line."""
    return load_run_config(preset, config_file, None, overrides)


def make_env(cfg: RunConfig, num_envs: int | None = None, split: str | None = None) -> VecEnv:
    """The batched env of ``cfg`` as its policy sees it; ``num_envs`` defaults to the preset's training envs."""
    if num_envs is None:
        num_envs = cfg.train.num_envs if cfg.train is not None else 1
    seed = cfg.run.seed if cfg.run is not None else 0
    return make_vec_env(cfg, num_envs, split or cfg.env.split, seed)


def build_model(cfg: RunConfig, env: VecEnv, device: str | None = None) -> PPO:
    """A fresh SB3 PPO model with the side-tuning policy of ``cfg.policy`` (the one PPO and BC train)."""
    return _build_model(cfg, env, device=device or (cfg.run.device if cfg.run is not None else "auto"))
