"""The embedded backend: protocol, reset/step semantics, action validation and the expert's quality."""

import math

import numpy as np
import pytest

from envs.backend import Action, Backend
from envs.config import EnvConfig
from envs.embedded.backend import EmbeddedBackend
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import generate_episodes


@pytest.fixture(scope="module")
def config():
    return EnvConfig(split="heldout", num_train_buildings=2, num_heldout_buildings=2)


@pytest.fixture(scope="module")
def episodes(config):
    return generate_episodes(building_names("heldout", config), 8, seed=3, config=config)


def test_implements_the_backend_protocol(config):
    backend = EmbeddedBackend(config, 2)
    assert isinstance(backend, Backend)
    assert backend.forward_step == 0.25 and backend.turn_angle == pytest.approx(math.radians(10))


def test_reset_places_agents_and_step_moves_and_turns(config, episodes):
    backend = EmbeddedBackend(config, 2)
    backend.reset(np.array([0, 1]), episodes[:2])
    pos, head = backend.poses()
    assert np.allclose(pos[0], episodes[0].start_xy) and head[1] == pytest.approx(episodes[1].start_heading)
    assert np.allclose(backend.geodesic_distance(), [e.geodesic_distance for e in episodes[:2]], atol=1e-4)
    backend.step(np.array([Action.TURN_LEFT, Action.STOP]))
    pos2, head2 = backend.poses()
    assert np.allclose(pos2, pos) and head2[1] == head[1]
    assert math.remainder(head2[0] - head[0] - math.radians(10), 2 * math.pi) == pytest.approx(0, abs=1e-9)
    result = backend.step(np.array([Action.MOVE_FORWARD, Action.STOP]))
    moved = np.linalg.norm(backend.poses()[0][0] - pos[0])
    assert result.collided.dtype == bool and (moved == pytest.approx(0.25) or result.collided[0])


def test_bad_input_errors(config, episodes):
    backend = EmbeddedBackend(config, 2)
    with pytest.raises(RuntimeError, match="reset"):
        backend.step(np.array([1, 1]))
    backend.reset(np.array([0, 1]), episodes[:2])
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        backend.step(np.array([1, 4]))
    with pytest.raises(ValueError, match="2 envs"):
        backend.step(np.array([1]))
    train_ep = generate_episodes(building_names("train", config)[:1], 1, seed=0, config=config)
    with pytest.raises(ValueError, match="env.split"):
        backend.reset(np.array([0]), train_ep)


def test_expert_reaches_goals_efficiently(config, episodes):
    n = len(episodes)
    backend = EmbeddedBackend(config, n)
    backend.reset(np.arange(n), episodes)
    done, success, path = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n)
    for _ in range(500):
        actions = backend.expert_action(0.2)
        actions[done] = Action.STOP
        before = backend.positions.copy()
        backend.step(actions)
        path += np.linalg.norm(backend.positions - before, axis=1)
        stop = (actions == Action.STOP) & ~done
        success |= stop & (backend.geodesic_distance() <= 0.2)
        done |= stop
        if done.all():
            break
    d0 = np.array([e.geodesic_distance for e in episodes])
    spl = success * d0 / np.maximum(d0, path)
    assert success.all() and spl.mean() >= 0.95
