"""habitat-baselines plugin: the toolkit's side-tuned PointNav policy and an α-logging PPO/DD-PPO trainer.

Importing this package registers, in habitat-baselines' ``baseline_registry``:
- the policy ``SideTunePointNavPolicy`` (base + side + merge from ``policies/``, the same ``PolicyConfig`` the
  toolkit's trainers build from), and
- the trainer ``sidetune_ppo`` (habitat-baselines' PPOTrainer, which is also its DD-PPO trainer under torchrun,
  plus α in its TensorBoard).
Stock ``python -m habitat_baselines.run`` finds the config ``sidetune_pointnav`` and imports this package through
the Hydra search-path plugin in ``hydra_plugins/sidetune_habitat_baselines_plugin`` (docs/habitat.md).
"""

from sidetune_habitat_baselines.policy import SideTuneNet, SideTunePointNavPolicy, policy_config_of
from sidetune_habitat_baselines.trainer import SideTunePPOTrainer

__all__ = ["SideTuneNet", "SideTunePointNavPolicy", "SideTunePPOTrainer", "policy_config_of"]
