"""SB3's PPO with the toolkit's rollout: a frozen base runs once per frame, camera images stay on a shared device.

`SideTunePPO` picks its rollout buffer through SB3's own hooks: `_setup_model` sets `rollout_buffer_class` and
`rollout_buffer_kwargs` from the policy config (a frozen base: `FrozenBaseRolloutBuffer`) and from the env it was
given (camera images as tensors on the policy's device, agents/trainers/rollout_env.py: `DeviceRolloutBuffer`),
before SB3 builds the buffer. Its `collect_rollouts` is SB3's, except that the policy acts through
`SideTunePolicy.forward_with_base_features` and the frozen base's features it returns go to the buffer's `add`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from agents.trainers.rollout_buffer import DeviceRolloutBuffer, FrozenBaseRolloutBuffer
from agents.trainers.rollout_env import device_observation_keys
from policies.extractor import extractor_config
from policies.methods import method_spec
from policies.sb3_policy import SideTunePolicy


class SideTunePPO(PPO):
    """SB3's PPO whose rollout buffer is the toolkit's (see the module docstring). `store_base_features=False`
    keeps SB3's way for a frozen base: its features are recomputed in every epoch of the update. Other arguments
    are `PPO`'s, except `rollout_buffer_class` and `rollout_buffer_kwargs`, which the model picks itself."""

    def __init__(
        self, policy: Any, env: GymEnv | str | None, *args: Any, store_base_features: bool = True, **kwargs: Any
    ):
        for name in ("rollout_buffer_class", "rollout_buffer_kwargs"):
            if kwargs.get(name) is not None:
                raise TypeError(f"SideTunePPO picks its rollout buffer itself: {name} is not an argument")
        self.store_base_features = store_base_features
        super().__init__(policy, env, *args, **kwargs)

    def _setup_model(self) -> None:
        self._pick_rollout_buffer()
        super()._setup_model()

    def _pick_rollout_buffer(self) -> None:
        """`rollout_buffer_class` and `rollout_buffer_kwargs` for this policy config and env."""
        device_keys = device_observation_keys(self.env)
        config = extractor_config(self.policy_kwargs)
        spec = method_spec(config.method) if config is not None else None
        if self.store_base_features and spec is not None and spec.frozen_base:
            self.rollout_buffer_class = FrozenBaseRolloutBuffer
            self.rollout_buffer_kwargs = {"rgb_key": config.rgb_key, "keep_rgb": spec.side, "device_keys": device_keys}
        elif device_keys:
            self.rollout_buffer_class, self.rollout_buffer_kwargs = DeviceRolloutBuffer, {"device_keys": device_keys}
        else:  # SB3's own choice
            dict_space = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = DictRolloutBuffer if dict_space else RolloutBuffer
            self.rollout_buffer_kwargs = {}

    def set_env(self, env: GymEnv, force_reset: bool = True) -> None:
        """SB3's set_env; the rollout buffer is picked again for the new env (it may keep other keys on the device)."""
        super().set_env(env, force_reset)
        self._pick_rollout_buffer()
        self.rollout_buffer = self.rollout_buffer_class(
            self.n_steps,
            self.observation_space,  # type: ignore[arg-type]
            self.action_space,
            device=self.device,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            n_envs=self.n_envs,
            **self.rollout_buffer_kwargs,
        )

    def _excluded_save_params(self) -> list[str]:
        """The rollout's wiring belongs to the process that trains, not to the checkpoint: a loaded model picks its
        own for the env it gets."""
        return [
            *super()._excluded_save_params(),
            "rollout_buffer_class",
            "rollout_buffer_kwargs",
            "store_base_features",
        ]

    @property
    def device_observation_keys(self) -> tuple[str, ...]:
        """The camera keys the rollout keeps as tensors on the policy's device, from the env to the update (a
        frozen base alone stores no frames: there they stay on the device until the base has run)."""
        return tuple(self.rollout_buffer_kwargs.get("device_keys", ()))

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """SB3's collect_rollouts (stable-baselines3 2.x), with the frozen base's features that the policy computed
        while acting passed to a `FrozenBaseRolloutBuffer`'s `add`."""
        assert self._last_obs is not None, "No previous observation was provided"
        # Switch to eval mode (this affects batch norm / dropout)
        self.policy.set_training_mode(False)

        n_steps = 0
        rollout_buffer.reset()
        # Sample new weights for the state dependent exploration
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()
        stores_base_features = isinstance(rollout_buffer, FrozenBaseRolloutBuffer)

        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                # Sample a new noise matrix
                self.policy.reset_noise(env.num_envs)

            with th.no_grad():
                # Convert to pytorch tensor or to TensorDict
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                actions, values, log_probs, base_features = self._act(obs_tensor)
            actions = actions.cpu().numpy()

            # Rescale and perform action
            clipped_actions = actions

            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    # Unscale the actions to match env bounds
                    # if they were previously squashed (scaled in [-1, 1])
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    # Otherwise, clip the actions to avoid out of bound error
                    # as we are sampling from an unbounded Gaussian distribution
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)

            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
            n_steps += 1

            if isinstance(self.action_space, spaces.Discrete):
                # Reshape in case of discrete action
                actions = actions.reshape(-1, 1)

            # Handle timeout by bootstrapping with value function
            for idx, done in enumerate(dones):
                if (
                    done
                    and infos[idx].get("terminal_observation") is not None
                    and infos[idx].get("TimeLimit.truncated", False)
                ):
                    terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                    with th.no_grad():
                        terminal_value = self.policy.predict_values(terminal_obs)[0]  # type: ignore[arg-type]
                    rewards[idx] += self.gamma * terminal_value

            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                values,
                log_probs,
                **({"base_features": base_features} if stores_base_features else {}),
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

        with th.no_grad():
            # Compute value for the last timestep
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))  # type: ignore[arg-type]

        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)

        callback.update_locals(locals())

        callback.on_rollout_end()

        return True

    def _act(self, obs: Any) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor | None]:
        """One rollout step of the policy: actions, values, log-probs and the frozen base's features (or None)."""
        if isinstance(self.policy, SideTunePolicy):
            return self.policy.forward_with_base_features(obs)
        return (*self.policy(obs), None)
