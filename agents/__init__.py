"""Trainers and evaluation: SB3 PPO, behaviour cloning, expert trajectories and held-out evaluation."""
