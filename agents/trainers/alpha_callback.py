"""SB3 callback that drives α curricula, logs α and keeps its trajectory over training."""

from __future__ import annotations

import json
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

from common.atomic_io import atomic_write_text


class AlphaCallback(BaseCallback):
    """Each step: tell the extractor the number of timesteps (for α schedules) and record α in the logger.
    After each rollout: append `[frames, {name: α}]` to `trajectory` (saved in results.json by the trainer) and,
    given a ``path``, rewrite it there, so that a resumed run continues the trajectory instead of losing what
    came before its checkpoint (pass the kept part as ``trajectory``)."""

    def __init__(self, trajectory: list[list] | None = None, path: Path | None = None, verbose: int = 0):
        super().__init__(verbose)
        self.trajectory: list[list] = list(trajectory or [])
        self.path = path

    def _on_step(self) -> bool:
        extractor = self.model.policy.features_extractor
        if hasattr(extractor, "set_step"):
            extractor.set_step(self.num_timesteps)
            for name, value in extractor.alphas().items():
                self.logger.record(f"policy/{name}", value)
        return True

    def _on_rollout_end(self) -> None:
        extractor = self.model.policy.features_extractor
        alphas = extractor.alphas() if hasattr(extractor, "alphas") else {}
        if alphas:
            self.trajectory.append([int(self.num_timesteps), {k: round(float(v), 5) for k, v in alphas.items()}])
            if self.path is not None:
                atomic_write_text(self.path, json.dumps(self.trajectory))
