"""The side-tuned PointNav policy for habitat-baselines: the toolkit's extractor, a GRU, habitat's heads.

Observations are habitat-lab's: ``rgb`` ``[N, H, W, 3]`` uint8 and the point goal (``pointgoal_with_gps_compass``,
or ``pointgoal``) ``[N, 2]``. The RGB image goes, channel first, through ``policies.extractor.SideTuneExtractor``
(the method encoder of ``policies.methods.build_encoder``, for any registered method, ``policies.methods.METHODS``),
the goal through its vector tower; habitat-baselines' RNN state encoder and its actor/critic heads (``NetPolicy``)
do the rest, so its PPO, DD-PPO and evaluator run the policy unchanged.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from habitat_baselines.common.baseline_registry import baseline_registry
from habitat_baselines.rl.models.rnn_state_encoder import build_rnn_state_encoder
from habitat_baselines.rl.ppo.policy import Net, NetPolicy
from omegaconf import DictConfig

from policies.extractor import SideTuneExtractor
from policies.methods import PolicyConfig
from sidetune_habitat_baselines.policy_config import policy_config_of

GOAL_KEYS = ("pointgoal_with_gps_compass", "pointgoal")
RGB_KEY = "rgb"


def _extractor_space(observation_space: Any) -> tuple[gymnasium.spaces.Dict, str]:
    """The extractor's (gymnasium, channel-first) view of habitat's observation space, and the goal key."""
    spaces = observation_space.spaces
    goal_key = next((k for k in GOAL_KEYS if k in spaces), None)
    if RGB_KEY not in spaces or goal_key is None:
        raise ValueError(
            f"SideTunePointNavPolicy needs '{RGB_KEY}' and one of {GOAL_KEYS}; the task gives {sorted(spaces)}"
        )
    height, width, channels = spaces[RGB_KEY].shape
    if channels != 3:
        raise ValueError(f"observation {RGB_KEY!r} has {channels} channels; use habitat's RGB sensor (3)")
    goal = spaces[goal_key].shape
    return gymnasium.spaces.Dict(
        {
            RGB_KEY: gymnasium.spaces.Box(0, 255, (3, height, width), np.uint8),
            goal_key: gymnasium.spaces.Box(-np.inf, np.inf, goal, np.float32),
        }
    ), goal_key


class SideTuneNet(Net):
    """RGB + goal -> SideTuneExtractor -> GRU; ``alphas()`` reports the merge's α for logging."""

    def __init__(self, observation_space: Any, policy_config: PolicyConfig, hidden_size: int) -> None:
        super().__init__()
        space, self.goal_key = _extractor_space(observation_space)
        self.extractor = SideTuneExtractor(space, config=policy_config)
        self._hidden_size = int(hidden_size)
        self.state_encoder = build_rnn_state_encoder(self.extractor.features_dim, self._hidden_size)

    @property
    def output_size(self) -> int:
        return self._hidden_size

    @property
    def is_blind(self) -> bool:
        return False

    @property
    def num_recurrent_layers(self) -> int:
        return self.state_encoder.num_recurrent_layers

    @property
    def recurrent_hidden_size(self) -> int:
        return self._hidden_size

    @property
    def perception_embedding_size(self) -> int:
        return self.extractor.features_dim

    @property
    def visual_encoder(self) -> torch.nn.Module:
        return self.extractor.encoder

    def forward(
        self,
        observations: dict[str, torch.Tensor],
        rnn_hidden_states: torch.Tensor,
        prev_actions: torch.Tensor,
        masks: torch.Tensor,
        rnn_build_seq_info: dict[str, torch.Tensor] | None = None,
    ):
        rgb = observations[RGB_KEY].permute(0, 3, 1, 2).float()  # [N, H, W, 3] uint8 -> [N, 3, H, W] in [0, 255]
        features = self.extractor({RGB_KEY: rgb, self.goal_key: observations[self.goal_key].float()})
        out, rnn_hidden_states = self.state_encoder(features, rnn_hidden_states, masks, rnn_build_seq_info)
        return out, rnn_hidden_states, {"perception_embed": features, "rnn_output": out}

    def alphas(self) -> dict[str, float]:
        """The merge's current α (empty for methods without one)."""
        return self.extractor.alphas()


@baseline_registry.register_policy
class SideTunePointNavPolicy(NetPolicy):
    """habitat-baselines' actor-critic around SideTuneNet; built from the config's ``sidetune:`` section."""

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        policy_config: PolicyConfig,
        hidden_size: int = 512,
        aux_loss_config: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            SideTuneNet(observation_space, policy_config, hidden_size),
            action_space=action_space,
            aux_loss_config=aux_loss_config,
        )

    @classmethod
    def from_config(cls, config: DictConfig, observation_space: Any, action_space: Any, **kwargs: Any):
        return cls(
            observation_space,
            action_space,
            policy_config_of(config),
            hidden_size=config.habitat_baselines.rl.ppo.hidden_size,
            aux_loss_config=config.habitat_baselines.rl.auxiliary_losses,
        )

    def alphas(self) -> dict[str, float]:
        """The merge's current α, for the trainer's TensorBoard."""
        return self.net.alphas()
