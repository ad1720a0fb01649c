"""The validation buildings: train_val (the last env.num_val_buildings training buildings, evaluated like the
held-out buildings) and train_fit (the rest of train, trained on), with train and heldout left exactly as they were.

About 30 s: one test regenerates the 420 default held-out episodes, the others use small catalogues.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from agents.evaluation.evaluate import evaluate_policy, reference_config
from agents.run.config_loader import load_run_config
from agents.trainers.trajectories import (
    EpisodeStream,
    TrajectoryPool,
    TrajectoryPoolError,
    default_pool_dir,
    generate_pool,
)
from common.config import ConfigError
from envs.config import EnvConfig
from envs.embedded import episode_gen
from envs.embedded.backend import EmbeddedBackend
from envs.embedded.catalogue import building_names, splits_of
from envs.embedded.episode_gen import building_of, episode_set_key, load_or_generate_episodes
from envs.factory import check_split, load_episodes_for

# The default catalogue's held-out buildings and episode sets as every committed result used them (recorded from
# the code before train_fit / train_val existed): the 14 names, digests of all 86 names and of the 420 episodes,
# and the cache keys of the train and heldout sets.
HELDOUT_NAMES = [
    "Zaitreasoudale",
    "Fahuglou",
    "Kacruford",
    "Kimotraford",
    "Koufoucidale",
    "Breafeawood",
    "Stadeanous",
    "Kucedale",
    "Bacis",
    "Boseford",
    "Vouvaveawood",
    "Nubous",
    "Ligluhean",
    "Vouvain",
]
NAMES_SHA256 = "465d54b5c74f618d0833aa7844407eda0eabbb3994f3a6a5f1a567b08f6721bc"
HELDOUT_EPISODES_SHA256 = "bcdbfac3b3dfb939066ca85d7bc604c56346967c400ac4da429c1507a25ea462"
SET_KEYS = {"train": "5fac6013df3b3496", "heldout": "a447123f78e69acb"}


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    """An empty on-disk and in-memory episode cache: sets are generated here, not read back."""
    monkeypatch.setenv("SIDETUNE_NAV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(episode_gen, "_MEMORY", {})


@pytest.fixture()
def small(fresh_cache):
    cfg = EnvConfig(num_train_buildings=5, num_heldout_buildings=2, num_val_buildings=2, resolution=32)
    cfg.episodes.per_building_train, cfg.episodes.per_building_heldout = 6, 3
    return cfg


def test_train_and_heldout_are_unchanged_for_the_default_config():
    config = EnvConfig()
    train, heldout = building_names("train", config), building_names("heldout", config)
    assert heldout == HELDOUT_NAMES
    assert digest([train, heldout]) == NAMES_SHA256
    assert {split: episode_set_key(config, split) for split in SET_KEYS} == SET_KEYS  # on-disk caches stay valid
    assert config.num_val_buildings == 8


def test_the_420_heldout_episodes_are_unchanged(fresh_cache):
    episodes = load_or_generate_episodes(EnvConfig(), "heldout")
    assert len(episodes) == 420
    assert digest([e.to_json() for e in episodes]) == HELDOUT_EPISODES_SHA256


def test_train_val_and_train_fit_partition_train_in_catalogue_order():
    config = EnvConfig()
    train, heldout = building_names("train", config), building_names("heldout", config)
    val, fit = building_names("train_val", config), building_names("train_fit", config)
    assert len(val) == 8 and len(fit) == 64
    assert val == train[-8:] and fit + val == train and not set(fit) & set(val)
    assert not (set(val) | set(fit)) & set(heldout)
    assert splits_of(val[0], config) == ["train", "train_val"] and splits_of(fit[0], config) == ["train", "train_fit"]
    other = EnvConfig(num_val_buildings=14)
    assert building_names("train_val", other) == train[-14:] and building_names("train", other) == train
    assert building_names("heldout", other) == heldout


def test_train_fit_episodes_are_the_train_episodes_of_its_buildings(small):
    train = load_or_generate_episodes(small, "train")
    fit = load_or_generate_episodes(small, "train_fit")
    names = set(building_names("train_fit", small))
    assert fit == [e for e in train if building_of(e) in names]
    assert [e.episode_id for e in fit] == [e.episode_id for e in train if building_of(e) in names]
    assert len(fit) == 3 * 6


def test_train_val_episodes_are_generated_like_heldout_ones(small):
    val = load_or_generate_episodes(small, "train_val")
    names = building_names("train_val", small)
    assert [building_of(e) for e in val] == [n for n in names for _ in range(3)]  # per_building_heldout each
    assert val == load_or_generate_episodes(small, "train_val")  # fixed
    # one stream per building: a train_val building's episodes are the first of its training episodes
    train = load_or_generate_episodes(small, "train")
    for name in names:
        first = [e for e in train if building_of(e) == name][:3]
        mine = [e for e in val if building_of(e) == name]
        assert [(e.start_position, e.goal_position, e.start_rotation) for e in mine] == [
            (e.start_position, e.goal_position, e.start_rotation) for e in first
        ]
    other = dataclasses.replace(small, num_val_buildings=1)
    assert episode_set_key(other, "train_val") != episode_set_key(small, "train_val")
    assert episode_set_key(other, "heldout") == episode_set_key(small, "heldout")


def test_env_buildings_may_list_buildings_of_the_training_and_evaluation_splits(small):
    fit, val = building_names("train_fit", small)[0], building_names("train_val", small)[0]
    small.buildings = [fit, val]
    assert {building_of(e) for e in load_episodes_for(small, "train_fit")} == {fit}
    assert {building_of(e) for e in load_episodes_for(small, "train_val")} == {val}
    small.split = "train_fit"
    assert EmbeddedBackend(small, 1).names == [fit]
    small.buildings = [val]
    with pytest.raises(ValueError, match=rf"no train_fit building \({val}: train / train_val\)"):
        load_episodes_for(small, "train_fit")


def test_bad_split_names_and_sizes_are_one_line_config_errors():
    with pytest.raises(ConfigError) as err:
        load_run_config("evaluate", overrides=["eval.split=val"])
    assert str(err.value).count("\n") == 0
    assert str(err.value).startswith("eval.split: 'val' is unknown")
    assert str(err.value).endswith("choose one of train, heldout, train_fit, train_val)")
    with pytest.raises(ConfigError, match=r"^env.split: 'validation' is unknown .*train_fit, train_val\)$"):
        EnvConfig(split="validation")
    with pytest.raises(ConfigError, match=r"^env.num_val_buildings: 72 leaves no train_fit building .*use 1 to 71"):
        EnvConfig(split="train_fit", num_val_buildings=72)
    with pytest.raises(ConfigError, match=r"^env.num_val_buildings: 5 leaves no train_fit building"):
        check_split(EnvConfig(num_train_buildings=5, num_heldout_buildings=2, num_val_buildings=5), "train_val")
    with pytest.raises(ConfigError, match=r"^env.num_val_buildings:"):
        EnvConfig(num_val_buildings=0)
    tiny = EnvConfig(num_train_buildings=3, num_heldout_buildings=2)  # train and heldout need no train_fit building
    assert building_names("train_val", tiny) == [] == building_names("train_fit", tiny)  # unusable, listed empty
    with pytest.raises(ConfigError, match=r"^env.num_val_buildings: 8 leaves no train_fit building"):
        load_or_generate_episodes(tiny, "train_val")


def test_eval_split_train_val_evaluates_k_episodes_per_validation_building(fresh_cache):
    overrides = ["env.resolution=32", "policy.base=random", "eval.split=train_val", "eval.num_envs=4"]
    cfg = reference_config(overrides)
    names = building_names("train_val", cfg.env)
    result = evaluate_policy("expert", cfg, episodes_per_building=2, progress=False)
    assert result["split"] == "train_val" and result["episodes"] == 2 * len(names) == 16
    assert result["buildings"] == sorted(f"embedded/{name}" for name in names)
    expected = [e for e in load_or_generate_episodes(cfg.env, "train_val") if e.episode_id in {"0", "1", "30", "31"}]
    assert [ep["episode_id"] for ep in result["per_episode"][:4]] == [e.episode_id for e in expected]
    assert result["success"]["mean"] >= 0.9
    # more than env.episodes.per_building_heldout: the set is enlarged, its first episodes unchanged
    fewer = reference_config([*overrides, "env.episodes.per_building_heldout=1"])
    more = evaluate_policy("expert", fewer, episodes_per_building=2, progress=False)
    same = [(ep["building"], ep["start_distance"], ep["steps"]) for ep in result["per_episode"]]
    assert [(ep["building"], ep["start_distance"], ep["steps"]) for ep in more["per_episode"]] == same


def test_a_train_fit_pool_draws_only_train_fit_buildings_and_is_kept_apart(small, tmp_path):
    small.split = "train_fit"
    fit = set(building_names("train_fit", small))
    stream = EpisodeStream(small, seed=0)
    assert {building_of(stream[j]) for j in range(3 * stream.round_size)} <= fit  # generated rounds too
    pool = generate_pool(small, tmp_path / "fit", 4, seed=0, shard_size=4, num_envs=4)
    assert set(pool.manifest["buildings"]) == fit
    loaded = pool.load(4, auto_stop=True)
    assert {loaded.building_names[k] for k in loaded.buildings} <= fit
    train = EnvConfig(num_train_buildings=5, num_heldout_buildings=2, num_val_buildings=2, resolution=32)
    train.episodes.per_building_train, train.episodes.per_building_heldout = 6, 3
    for run_cfg in (train, dataclasses.replace(small, num_val_buildings=1)):
        with pytest.raises(TrajectoryPoolError, match="split|num_val_buildings"):
            TrajectoryPool(pool.root).check_compatible(run_cfg)
    train_pool = generate_pool(train, tmp_path / "train", 2, seed=0, shard_size=4, num_envs=2)
    with pytest.raises(TrajectoryPoolError, match="split: pool None, run 'train_fit'"):
        train_pool.check_compatible(small)
    assert default_pool_dir(small, 0) != default_pool_dir(train, 0)
    first = dataclasses.replace(small, buildings=[sorted(fit)[0], building_names("train_val", small)[0]])
    assert generate_pool(first, tmp_path / "first", 2, seed=0, shard_size=4, num_envs=2).manifest["buildings"] == [
        sorted(fit)[0]
    ]
    assert default_pool_dir(train, 0).name == "embedded-r32-seed0"
    heldout_run = dataclasses.replace(train, split="heldout")
    assert EpisodeStream(heldout_run, seed=0).env_cfg.split == "train"  # other splits train on train
