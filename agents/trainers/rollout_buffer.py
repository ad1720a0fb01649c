"""PPO's rollout buffer for a frozen base: its features are computed once per frame, at rollout time.

SB3's PPO recomputes the whole policy, frozen base included, in every epoch of every update. With a frozen
base (methods `features`, `sidetune`) the base's output for a frame never changes, so
`FrozenBaseRolloutBuffer` stores the features the policy computed while acting (`SideTunePolicy.
rollout_base_features`) and hands them to every minibatch under `BASE_FEATURES_KEY`, the same extractor
input behaviour cloning's feature cache uses (agents/trainers/feature_cache.py). The method `features` needs no
pixels after that, so its buffer does not store the RGB frames at all. Observations keep their own dtype
(SB3 >= 2.x stores uint8 images as uint8). The update's losses and parameters are bit-identical to SB3's
buffer (tests/test_rollout_buffer.py).
"""

from __future__ import annotations

from typing import Any, Generator

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples

from policies.contract import IMAGE_CHANNELS, feature_shape
from policies.extractor import BASE_FEATURES_KEY
from policies.sb3_policy import SideTunePolicy


class FrozenBaseRolloutBuffer(DictRolloutBuffer):
    """DictRolloutBuffer that also keeps each step's frozen-base features (float32 [8k, H/16, W/16])."""

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
        policy: SideTunePolicy,
        rgb_key: str,
        keep_rgb: bool,
    ) -> None:
        channels, height, width = observation_space[rgb_key].shape
        c, h, w = feature_shape(height, width)
        self.features_shape = (c * (channels // IMAGE_CHANNELS), h, w)
        self.policy = policy
        stored = observation_space if keep_rgb else spaces.Dict({k: v for k, v in observation_space.spaces.items() if k != rgb_key})
        super().__init__(buffer_size, stored, action_space, device, gae_lambda, gamma, n_envs)

    def reset(self) -> None:
        self.base_features = np.zeros((self.buffer_size, self.n_envs, *self.features_shape), dtype=np.float32)
        super().reset()

    def add(self, obs: dict[str, np.ndarray], *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """SB3's add, plus the base features the policy computed for `obs` when it acted on them."""
        features = self.policy.rollout_base_features
        if features is None or tuple(features.shape) != (self.n_envs, *self.features_shape):
            raise RuntimeError(
                "the policy kept no frozen-base features for this rollout step (shape "
                f"{None if features is None else tuple(features.shape)}, expected {(self.n_envs, *self.features_shape)})"
            )
        self.base_features[self.pos] = features.detach().cpu().numpy()
        self.policy.rollout_base_features = None  # consumed: a stale copy is never stored twice
        super().add(obs, *args, **kwargs)

    def get(self, batch_size: int | None = None) -> Generator[DictRolloutBufferSamples, None, None]:  # type: ignore[override]
        if not self.generator_ready:
            self.base_features = self.swap_and_flatten(self.base_features)
        yield from super().get(batch_size)

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> DictRolloutBufferSamples:  # type: ignore[override]
        samples = super()._get_samples(batch_inds, env)
        samples.observations[BASE_FEATURES_KEY] = self.to_torch(self.base_features[batch_inds])
        return samples


def reuse_frozen_base_features(model: PPO) -> bool:
    """Give `model` a `FrozenBaseRolloutBuffer` when its base is frozen; True if it did. Other methods (and
    checkpoints saved with SB3's own policy class) keep SB3's buffer."""
    policy = model.policy
    if not isinstance(policy, SideTunePolicy) or not policy.features_extractor.encoder.base_frozen:
        return False
    extractor = policy.features_extractor
    model.rollout_buffer = FrozenBaseRolloutBuffer(
        model.n_steps, model.observation_space, model.action_space, device=model.device, gae_lambda=model.gae_lambda,
        gamma=model.gamma, n_envs=model.n_envs, policy=policy, rgb_key=extractor.config.rgb_key,
        keep_rgb=extractor.encoder.side is not None,
    )  # fmt: skip
    return True


def rollout_nbytes(observation_space: spaces.Dict, n_steps: int, n_envs: int) -> int:
    """Bytes of observations a PPO rollout holds in SB3's DictRolloutBuffer (each key in its own dtype:
    uint8 images stay uint8), e.g. to size `train.num_envs` x `ppo.n_steps` for the host's memory."""
    per_step = sum(int(np.prod(space.shape)) * np.dtype(space.dtype).itemsize for space in observation_space.spaces.values())
    return per_step * n_steps * n_envs
