"""What a side-tuned policy relies on, measured without its optimiser: the held-out action loss with α forced.

The learned α is read as evidence of how useful the base is (the paper's claim 4), but its trajectory is Adam's:
|dL/dα| is about 1e-5 at the start and Adam turns any consistent sign into full-size steps, so α's fall
measures how consistently the gradient favours the side, not how much loss the side saves. This probe asks the
trained policy directly: the shortest-path expert drives held-out episodes, and at every step the policy's
cross-entropy on the expert's action is measured with α forced to 0 (side only), 0.5 and 1 (base only).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from agents.evaluation.evaluate import _make_eval_env, run_episode_set
from agents.run.env_builder import unwrap_task
from agents.run.run_config import RunConfig

ALPHAS = (0.0, 0.5, 1.0)


def loss_key(alpha: float) -> str:
    """The key of a forced α in the probe's ``loss`` mapping (results.json): 0.5 -> "0.5"."""
    return f"{alpha:.1f}"


def alpha_merge(model: Any) -> Any | None:
    """The α-blend merge of an SB3 model's encoder, or None when its method has no α."""
    encoder = getattr(model.policy.features_extractor, "encoder", None)
    merge = getattr(encoder, "merge", None)
    return merge if merge is not None and hasattr(merge, "alpha") and "alpha" in merge.alphas() else None


@contextmanager
def forced_alpha(merge: Any, value: float) -> Iterator[None]:
    """Within the block, ``merge`` blends with α = ``value`` whatever it learned or schedules."""
    forced = torch.tensor(float(value))
    merge.alpha = lambda: forced
    try:
        yield
    finally:
        del merge.alpha  # the class's method again


def heldout_action_loss(
    model: Any,
    cfg: RunConfig,
    alphas: Sequence[float] = ALPHAS,
    episodes_per_building: int = 5,
    progress: bool = False,
) -> dict[str, Any]:
    """Mean cross-entropy of ``model``'s action distribution on the expert's actions along expert-driven
    held-out episodes (the first ``episodes_per_building`` of each held-out building), once per forced α.

    Returns ``{"loss": {"0.0": ..., "0.5": ..., "1.0": ...}, "learned_alpha": ..., "frames": ..., "episodes": ...}``.
    """
    merge = alpha_merge(model)
    if merge is None:
        raise ValueError("the α probe needs a policy whose merge has an α (method sidetune with policy.merge=alpha)")
    settings = cfg.eval.replace(episodes_per_building=episodes_per_building, videos=0)
    venv = _make_eval_env(cfg, settings)
    task = unwrap_task(venv)
    net = model.policy
    totals = dict.fromkeys(alphas, 0.0)
    frames = 0
    count = len(task.episodes)

    def expert_with_loss(obs: dict[str, np.ndarray]) -> np.ndarray:
        nonlocal frames
        actions = np.asarray(task.expert_actions(), dtype=np.int64)
        inside = task.episode_indices() < count  # rows past the set (autoreset) do not count
        if inside.any():
            net.set_training_mode(False)
            with torch.no_grad():
                tensor, _ = net.obs_to_tensor(obs)
                target = torch.as_tensor(actions, device=net.device)
                rows = torch.as_tensor(inside, device=net.device)
                for value in alphas:
                    with forced_alpha(merge, value):
                        log_prob = net.get_distribution(tensor).log_prob(target)
                    totals[value] -= float(log_prob[rows].sum())
            frames += int(inside.sum())
        return actions

    try:
        rows, _, _ = run_episode_set(venv, expert_with_loss, count, progress=progress)
    finally:
        venv.close()
    return {
        "loss": {loss_key(value): totals[value] / max(frames, 1) for value in alphas},
        "learned_alpha": float(merge.alphas()["alpha"]),
        "frames": frames,
        "episodes": len(rows),
        "episodes_per_building": episodes_per_building,
        "split": settings.split,
    }


def probe_after_training(model: Any, cfg: RunConfig, progress: bool = False) -> dict[str, Any] | None:
    """The trainers' call: the probe on ``eval.alpha_probe_episodes`` episodes per held-out building (at most the
    evaluation's own ``eval.episodes_per_building``), or None when the policy has no α or the probe is off (0)."""
    episodes = cfg.eval.alpha_probe_episodes
    if cfg.eval.episodes_per_building is not None:
        episodes = min(episodes, cfg.eval.episodes_per_building)
    if not episodes or alpha_merge(model) is None:
        return None
    return heldout_action_loss(model, cfg, episodes_per_building=episodes, progress=progress)
