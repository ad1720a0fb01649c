"""SB3's `VecFrameStack` for the device-resident rollout: stacked camera frames stay torch tensors on their device.

SB3 stacks frames in numpy, so a frame-stacked env (the GPU preset's 4 frames) would send every CUDA-rendered
frame to the host. `DeviceFrameStack` stacks the `device_keys` (channels-first images that the env returns as
tensors) on their device with SB3's exact rules (newest frame last, the stack zeroed when an episode starts, the
finished episode's stack in `terminal_observation`), and leaves every other key to SB3's `StackedObservations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecFrameStack
from stable_baselines3.common.vec_env.stacked_observations import StackedObservations


class DeviceFrameStack(VecEnvWrapper):
    """Stack the last `n_stack` observations like `VecFrameStack(venv, n_stack, channels_order)`, keeping the
    `device_keys` (channels first) as torch tensors on their device."""

    def __init__(self, venv: VecEnv, n_stack: int, channels_order: Mapping[str, str], device_keys: tuple[str, ...]):
        space = venv.observation_space
        if any(channels_order[key] != "first" for key in device_keys):
            raise ValueError(f"device-resident frame stacking needs channels-first images; got {dict(channels_order)}")
        host = spaces.Dict({key: sub for key, sub in space.spaces.items() if key not in device_keys})
        self.host_stack = StackedObservations(venv.num_envs, n_stack, host, {k: channels_order[k] for k in host.spaces})
        stacked = StackedObservations(venv.num_envs, n_stack, space, dict(channels_order))
        super().__init__(venv, observation_space=stacked.stacked_observation_space)
        self.n_stack, self.device_keys = n_stack, tuple(device_keys)
        self.stacked: dict[str, torch.Tensor] = {}

    @classmethod
    def replacing(cls, stack: VecFrameStack, device_keys: tuple[str, ...]) -> DeviceFrameStack:
        """The device-resident twin of SB3's `stack` (same env, depth and channel orders)."""
        subs = stack.stacked_obs.sub_stacked_observations
        orders = {key: "first" if sub.channels_first else "last" for key, sub in subs.items()}
        return cls(stack.venv, stack.stacked_obs.n_stack, orders, device_keys)

    def _host_part(self, obs: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in obs.items() if key not in self.device_keys}

    def _merged(self, obs: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
        return {key: self.stacked[key] if key in self.device_keys else host[key] for key in obs}

    def reset(self) -> dict[str, Any]:
        obs = self.venv.reset()
        host = self.host_stack.reset(self._host_part(obs))
        for key in self.device_keys:
            frame = obs[key]
            stacked = frame.new_zeros((frame.shape[0], frame.shape[1] * self.n_stack, *frame.shape[2:]))
            stacked[:, -frame.shape[1] :] = frame
            self.stacked[key] = stacked
        return self._merged(obs, host)

    def step_wait(self) -> tuple[dict[str, Any], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        host, infos = self.host_stack.update(self._host_part(obs), dones, infos)
        for key in self.device_keys:
            frame = obs[key]
            channels = frame.shape[1]
            stacked = torch.roll(self.stacked[key], -channels, dims=1)  # a new tensor: earlier stacks stay as they were
            for i in np.flatnonzero(dones):
                terminal = infos[i].get("terminal_observation")
                if terminal is not None:  # the host copy SB3VecEnv made: the finished episode's stack, as SB3's
                    terminal[key] = np.concatenate((stacked[i, :-channels].cpu().numpy(), terminal[key]), axis=0)
                stacked[i] = 0
            stacked[:, -channels:] = frame
            self.stacked[key] = stacked
        return self._merged(obs, host), rewards, dones, infos
