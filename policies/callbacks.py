"""SB3 callback that drives α curricula and logs α."""
from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback


class AlphaCallback(BaseCallback):
    """Each step: tell the extractor the number of timesteps (for α schedules); record α in the logger."""

    def _on_step(self) -> bool:
        extractor = self.model.policy.features_extractor
        if hasattr(extractor, "set_step"):
            extractor.set_step(self.num_timesteps)
            for name, value in extractor.alphas().items():
                self.logger.record(f"policy/{name}", value)
        return True
