"""PPO's rollout buffers for a frozen base and for camera images kept on the policy's device.

SB3's PPO recomputes the whole policy, frozen base included, in every epoch of every update. With a frozen
base (methods `features`, `sidetune`) the base's output for a frame never changes, so
`FrozenBaseRolloutBuffer` stores the features the policy computed while acting (`add(..., base_features=...)`,
from `SideTunePolicy.forward_with_base_features`) and hands them to every minibatch under `BASE_FEATURES_KEY`, the
same extractor input behaviour cloning's feature cache uses (agents/trainers/feature_cache.py). The method
`features` needs no pixels after that, so its buffer does not store the RGB frames at all. Observations keep
their own dtype (SB3 >= 2.x stores uint8 images as uint8). The update's losses and parameters are bit-identical
to SB3's buffer (tests/test_rollout_buffer.py).

When the env returns its camera images as torch tensors on the policy's device (agents/trainers/rollout_env.py),
`DeviceRolloutBuffer` keeps them as tensors on that device from the renderer to every minibatch, with no numpy
round trip; the small per-step arrays (map, goal, rewards, episode ends) stay SB3's. `SideTunePPO`
(agents/trainers/sidetune_ppo.py) picks the buffer.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples

from policies.contract import IMAGE_CHANNELS, feature_shape
from policies.extractor import BASE_FEATURES_KEY

TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.float32): torch.float32}


class DeviceRolloutBuffer(DictRolloutBuffer):
    """DictRolloutBuffer whose `device_keys` observations are stored as torch tensors on the buffer's device
    (they arrive as tensors there); `dropped_keys` are not stored at all. Everything else is SB3's."""

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        device: torch.device | str = "auto",
        gae_lambda: float = 1,
        gamma: float = 0.99,
        n_envs: int = 1,
        *,
        device_keys: tuple[str, ...] = (),
        dropped_keys: tuple[str, ...] = (),
    ) -> None:
        self.device_spaces = {k: observation_space[k] for k in device_keys if k not in dropped_keys}
        host = {k: v for k, v in observation_space.spaces.items() if k not in device_keys and k not in dropped_keys}
        super().__init__(buffer_size, spaces.Dict(host), action_space, device, gae_lambda, gamma, n_envs)

    def reset(self) -> None:
        self.device_observations = {
            key: torch.zeros(
                (self.buffer_size, self.n_envs, *space.shape),
                dtype=TORCH_DTYPES[np.dtype(space.dtype)],
                device=self.device,
            )
            for key, space in self.device_spaces.items()
        }
        super().reset()

    def add(self, obs: dict[str, Any], *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """SB3's add for the host keys; the device keys are copied on the device."""
        for key, stored in self.device_observations.items():
            stored[self.pos].copy_(torch.as_tensor(obs[key], device=self.device))
        super().add(obs, *args, **kwargs)

    def get(  # type: ignore[override]
        self, batch_size: int | None = None
    ) -> Generator[DictRolloutBufferSamples, None, None]:
        if not self.generator_ready:
            self.device_observations = {k: self.swap_and_flatten(v) for k, v in self.device_observations.items()}
        yield from super().get(batch_size)

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: Any = None
    ) -> DictRolloutBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        rows = torch.as_tensor(batch_inds, device=self.device)
        for key, stored in self.device_observations.items():
            samples.observations[key] = stored[rows]
        return samples


class FrozenBaseRolloutBuffer(DeviceRolloutBuffer):
    """The rollout buffer that also keeps each step's frozen-base features (float32 [8k, H/16, W/16]) on its device;
    `keep_rgb=False` (no side network needs the pixels) stores no `rgb_key` frames. Positional and other keyword
    arguments are `DeviceRolloutBuffer`'s (SB3's `DictRolloutBuffer`'s)."""

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Dict,
        *args: Any,
        rgb_key: str,
        keep_rgb: bool,
        **kwargs: Any,
    ) -> None:
        channels, height, width = observation_space[rgb_key].shape
        c, h, w = feature_shape(height, width)
        self.features_shape = (c * (channels // IMAGE_CHANNELS), h, w)
        kwargs["dropped_keys"] = () if keep_rgb else (rgb_key,)
        super().__init__(buffer_size, observation_space, *args, **kwargs)

    def reset(self) -> None:
        self.base_features = torch.zeros((self.buffer_size, self.n_envs, *self.features_shape), device=self.device)
        super().reset()

    def add(  # type: ignore[override]
        self, obs: dict[str, np.ndarray], *args: Any, base_features: torch.Tensor | None = None, **kwargs: Any
    ) -> None:
        """SB3's add, plus `base_features`: the frozen base's features of `obs`, which the policy computed when it
        acted on them."""
        if base_features is None or tuple(base_features.shape) != (self.n_envs, *self.features_shape):
            raise RuntimeError(
                "the policy computed no frozen-base features for this rollout step (shape "
                f"{None if base_features is None else tuple(base_features.shape)}, "
                f"expected {(self.n_envs, *self.features_shape)})"
            )
        self.base_features[self.pos].copy_(base_features.detach())
        super().add(obs, *args, **kwargs)

    def get(  # type: ignore[override]
        self, batch_size: int | None = None
    ) -> Generator[DictRolloutBufferSamples, None, None]:
        if not self.generator_ready:
            self.base_features = self.swap_and_flatten(self.base_features)
        yield from super().get(batch_size)

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: Any = None
    ) -> DictRolloutBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        samples.observations[BASE_FEATURES_KEY] = self.base_features[torch.as_tensor(batch_inds, device=self.device)]
        return samples


def rollout_nbytes(observation_space: spaces.Dict, n_steps: int, n_envs: int) -> int:
    """Bytes of observations a PPO rollout holds in SB3's DictRolloutBuffer (each key in its own dtype:
    uint8 images stay uint8), e.g. to size `train.num_envs` x `ppo.n_steps` for the host's memory."""
    per_step = sum(
        int(np.prod(space.shape)) * np.dtype(space.dtype).itemsize for space in observation_space.spaces.values()
    )
    return per_step * n_steps * n_envs
