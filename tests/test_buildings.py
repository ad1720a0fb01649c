"""Building generator determinism and layout, and the catalogue's train / held-out split."""

import cv2
import numpy as np
import pytest

from envs.config import EnvConfig
from envs.embedded.buildings import generate_building
from envs.embedded.catalogue import UnknownBuildingError, building_names, get_building, get_nav_grid, split_of


def test_same_seed_same_building_and_different_seed_differs():
    a, b, c = generate_building("x", 7), generate_building("x", 7), generate_building("x", 8)
    assert np.array_equal(a.walls, b.walls) and np.array_equal(a.pillars, b.pillars)
    assert np.array_equal(a.textures, b.textures)
    assert a.walls.shape != c.walls.shape or not np.array_equal(a.walls, c.walls)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_layout_sizes_materials_and_pillars(seed):
    b = generate_building("x", seed)
    w, d = b.size_m
    assert 10 <= w <= 25 and 10 <= d <= 25
    assert b.walls.dtype == np.uint8 and b.walls.max() < len(b.textures)
    assert (b.walls[0] > 0).all() and (b.walls[:, -1] > 0).all()  # closed outer wall
    assert b.textures.dtype == np.uint8 and b.textures.shape[1:] == (64, 64, 3)
    assert b.textures.reshape(len(b.textures), -1).std(1).min() > 2  # every material is textured, not flat
    if len(b.pillars):
        assert ((b.pillars[:, 2] >= 0.15) & (b.pillars[:, 2] <= 0.5)).all()
    assert 0.05 < (b.walls > 0).mean() < 0.35


@pytest.mark.parametrize("seed", [0, 5, 11])
def test_rooms_are_connected_through_doorways(seed):
    config = EnvConfig()
    nav = get_nav_grid(building_names("train", config)[seed], config).navigable
    count, labels = cv2.connectedComponents(nav.astype(np.uint8), connectivity=8)
    sizes = np.bincount(labels[nav])
    assert sizes.max() >= 0.9 * nav.sum(), "most navigable space must be one component"


def test_catalogue_split_is_fixed_disjoint_and_configurable():
    config = EnvConfig()
    train, heldout = building_names("train", config), building_names("heldout", config)
    assert len(train) == 72 and len(heldout) == 14 and not set(train) & set(heldout)
    assert building_names("train", EnvConfig()) == train
    assert building_names("train", EnvConfig(catalogue_seed=1)) != train
    small = EnvConfig(num_train_buildings=3, num_heldout_buildings=2)
    assert len(building_names("train", small)) == 3 and len(building_names("heldout", small)) == 2
    assert split_of(heldout[0], config) == "heldout" and split_of(train[0], config) == "train"


def test_bad_split_and_name_errors_say_how_to_fix():
    config = EnvConfig()
    with pytest.raises(ValueError, match="unknown split 'val'"):
        building_names("val", config)
    with pytest.raises(UnknownBuildingError, match="building_names"):
        get_building("Nowhere", config)


def test_cached_buildings_are_read_only():
    config = EnvConfig()
    b = get_building(building_names("heldout", config)[0], config)
    assert get_building(b.name, config) is b
    with pytest.raises(ValueError):
        b.walls[0, 0] = 0
