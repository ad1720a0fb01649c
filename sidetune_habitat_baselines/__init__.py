"""habitat-baselines plugin: the toolkit's side-tuned PointNav policy and an α-logging PPO/DD-PPO trainer.

``register()`` registers, in habitat-baselines' ``baseline_registry``:
- the policy ``SideTunePointNavPolicy`` (base + side + merge from ``policies/``, the same ``PolicyConfig`` the
  toolkit's trainers build from, resolved by ``policy_config.policy_config_of``), and
- the trainer ``sidetune_ppo`` (habitat-baselines' PPOTrainer, which is also its DD-PPO trainer under torchrun,
  plus α in its TensorBoard),
and every PolicyConfig field as a ``sidetune.policy.<key>`` Hydra key. Stock ``python -m habitat_baselines.run``
finds the config ``sidetune_pointnav`` and calls ``register()`` through the Hydra search-path plugin in
``hydra_plugins/sidetune_habitat_baselines_plugin`` (docs/habitat.md). Importing this package alone imports no
habitat code, so ``policy_config`` is usable (and tested) without habitat-baselines.
"""


def register() -> None:
    """Register the policy, the trainer and the policy's Hydra keys (idempotent; needs habitat-baselines)."""
    import sidetune_habitat_baselines.policy  # noqa: F401  (its decorator registers the policy)
    import sidetune_habitat_baselines.trainer  # noqa: F401  (its decorator registers the trainer)
    from sidetune_habitat_baselines.policy_config import register_policy_fields

    register_policy_fields()
