"""Episode sampling (determinism, constraints), PointNav v1 round trip, and the fixed sets' split checks."""

import dataclasses
import math

import pytest

from envs.config import EnvConfig
from envs.embedded.catalogue import building_names, get_nav_grid
from envs.embedded.episode_gen import building_of, generate_episodes, load_or_generate_episodes
from envs.embedded.navigation import distance_field
from envs.episodes import EpisodeFileError, load_episodes, save_episodes


@pytest.fixture()
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("SIDETUNE_NAV_CACHE", str(tmp_path / "cache"))
    cfg = EnvConfig(num_train_buildings=3, num_heldout_buildings=2)
    cfg.episodes.per_building_train, cfg.episodes.per_building_heldout = 4, 3
    return cfg


def test_generation_is_deterministic_and_seeded(config):
    names = building_names("train", config)[:2]
    a = generate_episodes(names, 3, seed=5, config=config)
    assert a == generate_episodes(names, 3, seed=5, config=config)
    assert a != generate_episodes(names, 3, seed=6, config=config)


def test_episodes_respect_sampling_constraints(config):
    names = building_names("train", config)
    ep_cfg = config.episodes
    for ep in generate_episodes(names, 4, seed=0, config=config):
        name = building_of(ep)
        nav = get_nav_grid(name, config)
        assert ep.scene_id == f"embedded/{name}" and name in names
        assert nav.is_navigable(*ep.start_xy) and nav.is_navigable(*ep.goal_xy)
        geo = distance_field(nav, ep.goal_xy).at(*ep.start_xy)
        assert geo == pytest.approx(ep.geodesic_distance, abs=1e-4)
        assert ep_cfg.min_geodesic <= geo <= ep_cfg.max_geodesic
        assert geo >= math.dist(ep.start_xy, ep.goal_xy) - 1e-6


def test_pointnav_v1_round_trip(config, tmp_path):
    episodes = generate_episodes(building_names("heldout", config), 2, seed=0, config=config)
    loaded = load_episodes(save_episodes(tmp_path / "val" / "val.json.gz", episodes))
    assert loaded == episodes
    assert all(a.start_heading == pytest.approx(b.start_heading) for a, b in zip(loaded, episodes, strict=False))


def test_fixed_sets_keep_heldout_buildings_out_of_training(config):
    train = load_or_generate_episodes(config, "train")
    heldout = load_or_generate_episodes(config, "heldout")
    assert {building_of(e) for e in train} == set(building_names("train", config))
    assert {building_of(e) for e in heldout} == set(building_names("heldout", config))
    assert len(train) == 12 and len(heldout) == 6
    assert load_or_generate_episodes(config, "train") == train  # cached, identical


def test_a_heldout_building_in_a_train_file_is_an_error_naming_the_episode(config, tmp_path):
    train = generate_episodes(building_names("train", config)[:1], 2, seed=0, config=config)
    leak = generate_episodes(building_names("heldout", config)[:1], 1, seed=0, config=config)
    leak = [dataclasses.replace(leak[0], episode_id="leaky-7")]
    save_episodes(tmp_path / "eps" / "train" / "train.json.gz", train + leak)
    config.episodes_dir = str(tmp_path / "eps")
    with pytest.raises(EpisodeFileError, match="leaky-7.*heldout building"):
        load_or_generate_episodes(config, "train")


def test_corrupt_mismatched_and_bad_split_errors(config, tmp_path):
    folder = tmp_path / "eps" / "heldout"
    folder.mkdir(parents=True)
    (folder / "heldout.json.gz").write_bytes(b"\x1f\x8bnot really gzip")
    config.episodes_dir = str(tmp_path / "eps")
    with pytest.raises(EpisodeFileError, match="corrupt"):
        load_or_generate_episodes(config, "heldout")
    other = EnvConfig(catalogue_seed=99, num_train_buildings=1, num_heldout_buildings=1)
    save_episodes(folder / "heldout.json.gz", generate_episodes(building_names("heldout", other), 1, 0, other))
    with pytest.raises(EpisodeFileError, match="not in this catalogue"):
        load_or_generate_episodes(config, "heldout")
    with pytest.raises(ValueError, match="unknown split"):
        load_or_generate_episodes(config, "val")
