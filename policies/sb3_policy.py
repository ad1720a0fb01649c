"""The SB3 policy every trainer uses: SB3's MultiInputPolicy, plus precomputed frozen-base features.

`SideTunePolicy` differs from SB3's `MultiInputActorCriticPolicy` in its extractor's memory layout
(channels_last) and in two small ways that let the frozen base (methods `features`, `sidetune`) run once per
frame:
- `forward_with_base_features` is SB3's `forward` (the rollout step: actions, values, log-probs) that also returns
  the base features the extractor computed, so PPO's rollout buffer can store them (agents/trainers/sidetune_ppo.py);
- observations may carry those features under `BASE_FEATURES_KEY`: they bypass SB3's preprocessing (they are
  not part of the observation space) and replace the base's forward pass in the extractor;
- uint8 image keys also bypass SB3's float cast: the extractor casts, scales and lays them out in one pass;
- `evaluate_actions` (SB3 calls it only in the PPO update) runs the trunk in `policy.train_precision`
  (policies/precision.py); the distribution, values and losses stay fp32.
"""

from __future__ import annotations

from typing import Any

import torch
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.preprocessing import preprocess_obs

from policies.extractor import BASE_FEATURES_KEY, SideTuneExtractor
from policies.precision import resolve_train_precision, training_autocast


class SideTunePolicy(MultiInputActorCriticPolicy):
    """MultiInputPolicy whose observations may include the frozen base's features (see the module docstring).
    Its extractor keeps conv weights and images channels_last, oneDNN's fast CPU layout (docs/benchmarks.md)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.features_extractor.set_memory_format(torch.channels_last)

    def forward_with_base_features(
        self, obs: Any, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """SB3's `forward` (actions, values and log-probs of a rollout step), plus the frozen base's features of
        `obs` that the extractor computed on the way (None without a frozen base, or when they came with `obs`)."""
        extractor = self.features_extractor
        if not (self.share_features_extractor and isinstance(extractor, SideTuneExtractor) and isinstance(obs, dict)):
            return (*super().forward(obs, deterministic), None)
        features, base_features = extractor.forward_with_base_features(self._extractor_inputs(obs, extractor))
        latent_pi, latent_vf = self.mlp_extractor(features)
        values = self.value_net(latent_vf)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = actions.reshape((-1, *self.action_space.shape))
        return actions, values, log_prob, base_features

    def evaluate_actions(
        self, obs: Any, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """SB3's evaluate_actions; where `policy.train_precision` resolves to bfloat16 the extractor and MLPs run
        under bf16 autocast and their outputs return to fp32 before the heads' distribution and value."""
        precision = resolve_train_precision(self.features_extractor.config.train_precision, self.device)
        if precision == "float32":
            return super().evaluate_actions(obs, actions)
        with training_autocast(precision, self.device):
            latent_pi, latent_vf = self.mlp_extractor(self.extract_features(obs))
        latent_pi, latent_vf = latent_pi.float(), latent_vf.float()
        distribution = self._get_action_dist_from_latent(latent_pi)
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()

    def extract_features(self, obs: Any, features_extractor: Any = None) -> torch.Tensor:
        """SB3's preprocessing, except for the keys the extractor scales itself: uint8 images go to it as they
        are (it casts, scales and changes their layout in one pass) and `BASE_FEATURES_KEY` bypasses it."""
        extractor = features_extractor or self.features_extractor
        if not isinstance(obs, dict):
            return super().extract_features(obs, features_extractor)
        return extractor(self._extractor_inputs(obs, extractor))

    def _extractor_inputs(self, obs: dict[str, torch.Tensor], extractor: Any) -> dict[str, torch.Tensor]:
        """`obs` preprocessed as `extract_features` says, ready for `extractor`."""
        if BASE_FEATURES_KEY in obs and not self.share_features_extractor:
            raise ValueError(
                "precomputed base features need share_features_extractor=True (policies.extractor.policy_kwargs)"
            )
        raw = set(getattr(extractor, "raw_image_keys", ())) if not self.normalize_images else set()
        raw.add(BASE_FEATURES_KEY)
        rest = {key: value for key, value in obs.items() if key not in raw}
        inputs = preprocess_obs(rest, self.observation_space, normalize_images=self.normalize_images)
        inputs.update({key: value for key, value in obs.items() if key in raw})
        return inputs
