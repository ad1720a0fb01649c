"""Reference rows: the goal-only heuristic, the blind policy option, features on a random base, and the
fixed 420-episode held-out set shared by every method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.evaluation.evaluate import evaluate_policy, reference_config, with_heldout_episodes
from agents.evaluation.metrics import run_summary
from agents.evaluation.reference_policies import REFERENCE_POLICIES, TRAINED_REFERENCES, goal_only_actions
from agents.run.env_builder import make_vec_env, unwrap_task
from agents.run.model_builder import build_model
from agents.trainers.trajectories import env_fingerprint
from envs.config import EnvConfig

SMALL = [
    "env.resolution=32",
    "policy.features_dim=64",
    "eval.num_envs=7",
    "policy.base=random",
]  # shipped bases: 128² only


def _target(phi_deg: float, rho: float) -> list[float]:
    phi = math.radians(phi_deg)
    return [math.cos(phi), math.sin(phi), rho]


def test_goal_only_turns_toward_the_goal_then_walks_and_stops() -> None:
    target = np.array([_target(40, 3.0), _target(-40, 3.0), _target(3, 3.0), _target(90, 0.1)], np.float32)
    assert goal_only_actions(target, 10.0, 0.2, auto_stop=False).tolist() == [2, 3, 1, 0]  # LEFT, RIGHT, FORWARD, STOP
    assert goal_only_actions(target, 10.0, 0.2, auto_stop=True).tolist() == [1, 2, 0, 1]  # no STOP: turn instead
    stacked = np.concatenate([target[::-1], target], axis=1)  # 2 stacked frames: the last one counts
    assert goal_only_actions(stacked, 10.0, 0.2, auto_stop=False).tolist() == [2, 3, 1, 0]


def test_goal_only_beats_random_and_stays_below_the_expert() -> None:
    cfg = reference_config(SMALL + ["env.auto_stop=true"])
    rates = {
        name: evaluate_policy(name, cfg, episodes_per_building=2, progress=False)["success"]["mean"]
        for name in REFERENCE_POLICIES
    }
    assert rates["expert"] == 1.0
    assert rates["random"] < rates["goal-only"] < 1.0


def test_heldout_set_has_30_per_building_identical_for_every_run_config() -> None:
    cfg = reference_config(SMALL)
    fewer = reference_config(SMALL + ["env.episodes.per_building_heldout=20"])  # a run trained with 20 per building
    other = reference_config(
        ["env.resolution=64", "env.auto_stop=true", "policy.method=sidetune", "policy.base=random", "frame_stack=2"]
    )
    sets = []
    for c in (cfg, with_heldout_episodes(fewer, "heldout", 30), other):
        venv = make_vec_env(c, 1, "heldout", 0, sampling="sequential")
        sets.append(list(unwrap_task(venv).episodes))
        venv.close()
    assert sets[0] == sets[1] == sets[2] and [e.episode_id for e in sets[0]] == [e.episode_id for e in sets[1]]
    per_building = {b: sum(e.scene_id == b for e in sets[0]) for b in {e.scene_id for e in sets[0]}}
    assert len(per_building) == 14 and set(per_building.values()) == {30}
    assert with_heldout_episodes(fewer, "train", 30) is fewer and with_heldout_episodes(cfg, "heldout", 30) is cfg
    env_20 = EnvConfig.from_dict({"episodes": {"per_building_heldout": 20}})  # the pools of such a run stay valid
    assert env_fingerprint(env_20) == env_fingerprint(EnvConfig())
    assert env_fingerprint(EnvConfig.from_dict({"episodes": {"per_building_train": 20}})) != env_fingerprint(
        EnvConfig()
    )


@pytest.mark.parametrize(
    "name, extra", [("blind", []), ("blind", ["policy.tile_goal=true"]), ("features-random-base", [])]
)
def test_trained_references_build_and_run(name: str, extra: list[str]) -> None:
    cfg = reference_config(SMALL + list(TRAINED_REFERENCES[name]) + extra)
    venv = make_vec_env(cfg, 2, "heldout", 0)
    try:
        model = build_model(cfg, venv, device="cpu")
        obs = venv.reset()
    finally:
        venv.close()
    extractor = model.policy.features_extractor
    tensor, _ = model.policy.obs_to_tensor(obs)
    other = dict(tensor, rgb=torch.randint_like(tensor["rgb"], 0, 256))
    with torch.no_grad():
        same_image, new_image = extractor(tensor), extractor(other)
    if name == "blind":  # the image must not matter; the map and goal (its own tower, or tiled into the head) still do
        assert torch.equal(same_image, new_image)
        moved = dict(tensor, target=tensor["target"] + 1.0)
        with torch.no_grad():
            assert not torch.equal(extractor(moved), same_image)
        assert run_summary(cfg.to_dict())["method"] == "blind"
    else:  # features on a random, frozen base: the image matters, the base never trains
        assert not torch.equal(same_image, new_image)
        assert extractor.encoder.method == "features" and run_summary(cfg.to_dict())["base"] == "random"
        assert not any(p.requires_grad for p in extractor.encoder.parameters())
