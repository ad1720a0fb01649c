"""The PPO training env whose camera images stay torch tensors on the policy's device (the device-resident rollout).

When the env renders on a torch device the policy shares (`env.render_device` torch-cpu with a CPU policy, cuda
with a CUDA one), `device_resident_env` switches it to torch observations and stacks frames on that device
(`DeviceFrameStack` in place of SB3's numpy `VecFrameStack`), before the model is built on it; the rollout
buffer then keeps those images on the device too (`device_observation_keys`, agents/trainers/rollout_buffer.py).
"""

from __future__ import annotations

import torch
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

from agents.run.env_builder import unwrap_task
from agents.trainers.device_frame_stack import DeviceFrameStack

RENDER_TORCH_DEVICES = {"torch-cpu": "cpu", "cuda": "cuda"}  # env.render_device -> the torch device it renders on


def _camera_keys(venv: VecEnv) -> tuple[str, ...]:
    """The env's camera images among its observation keys."""
    task = unwrap_task(venv)
    return tuple(k for k, v in venv.observation_space.spaces.items() if len(v.shape) == 3 and k in task.camera_keys)


def device_resident_env(venv: VecEnv, device: str | torch.device) -> VecEnv:
    """`venv` with its camera images as torch tensors on `device` (a resolved policy device, e.g. cpu or cuda)
    where its renderer draws them there, frame-stacked on the device; else `venv` unchanged."""
    task = unwrap_task(venv)
    render_device = RENDER_TORCH_DEVICES.get(task.config.render_device)
    if render_device is None or torch.device(render_device).type != torch.device(device).type:
        return venv
    keys = _camera_keys(venv) if hasattr(task.backend, "render_torch") else ()
    if not keys:
        return venv
    task.set_device_observations(True)
    if isinstance(venv, VecFrameStack):  # SB3 stacks in numpy: stack on the device instead
        return DeviceFrameStack.replacing(venv, keys)
    return venv


def device_observation_keys(env: VecEnv | None) -> tuple[str, ...]:
    """The camera keys `env` returns as torch tensors (a `device_resident_env`), else () (also for envs over
    another task, or none)."""
    inner = env
    while hasattr(inner, "venv"):
        inner = inner.venv
    if not getattr(getattr(inner, "task", None), "device_observations", False):
        return ()
    return _camera_keys(env)
