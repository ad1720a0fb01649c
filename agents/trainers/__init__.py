"""The trainers: SB3 PPO (callbacks, rollout buffer, data-parallel) and behaviour cloning
(expert trajectories, datasets, feature cache), sharing everything but the loss.
"""
