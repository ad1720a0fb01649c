"""The contract every installed simulator backend must honour (one suite, parametrised over backends).

'embedded' always runs. 'habitat' runs when habitat-sim and trimesh are importable, on the same two buildings
and episodes as 'embedded', exported as Habitat scenes (envs.habitat.scene_export); SIDETUNE_HABITAT_DATA (a
PointNav v1 folder) with SIDETUNE_HABITAT_SCENES (its scene_datasets folder) runs it on other scenes instead.
Otherwise it is skipped with the reason. Each backend is created once per module (a habitat-sim simulator
takes ~13 s to create) and lent to every test.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from envs.backend import Action, Backend
from envs.config import EnvConfig
from envs.episodes import Episode
from envs.factory import make_backend
from envs.habitat.availability import INSTALL_HINT, habitat_sim_available
from envs.task import PointNavTask

NUM_ENVS = 2
RESOLUTION = 32
STEP_INFO_KEYS = {"building", "episode_id", "distance_to_goal", "collisions"}
METRIC_KEYS = {"success", "spl", "path_length", "steps", "episode_reward", "start_distance", "episode_index"}


class _Lent:
    """The module's backend lent to one test: ``close()`` (also from ``PointNavTask.close``) keeps it open."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def close(self) -> None:
        pass


@dataclass
class Case:
    """A backend under test: its config, a few episodes of its own and the one backend its tests share."""

    name: str
    config: EnvConfig
    episodes: list[Episode]
    shared: Backend | None = None

    def backend(self) -> Backend:
        if self.shared is None:
            self.shared = make_backend(self.config, NUM_ENVS)
        return _Lent(self.shared)


def _embedded() -> Case:
    from envs.embedded.catalogue import building_names
    from envs.embedded.episode_gen import generate_episodes

    config = EnvConfig(split="heldout", num_train_buildings=2, num_heldout_buildings=2, resolution=RESOLUTION)
    episodes = generate_episodes(building_names("heldout", config), 3, seed=11, config=config)
    return Case("embedded", config, episodes)


def _habitat_skip_reason() -> str:
    if not habitat_sim_available():
        return f"habitat-sim is not importable; {INSTALL_HINT}"
    if importlib.util.find_spec("trimesh") is None and not os.environ.get("SIDETUNE_HABITAT_DATA"):
        return "trimesh is not installed, so the embedded buildings cannot be exported (pip install -e '.[habitat]')"
    return ""


def _habitat(out_dir) -> Case:
    reason = _habitat_skip_reason()
    if reason:
        pytest.skip(reason)
    from envs.factory import load_episodes_for

    if os.environ.get("SIDETUNE_HABITAT_DATA"):
        data, scenes, split = os.environ["SIDETUNE_HABITAT_DATA"], os.environ.get("SIDETUNE_HABITAT_SCENES"), "val"
    else:  # the embedded case's buildings and episodes, exported
        from envs.habitat.scene_export import export_dataset

        embedded = _embedded()
        folders = export_dataset(out_dir, embedded.config, {"heldout": embedded.episodes})
        data, scenes, split = str(folders["data_path"]), str(folders["scenes_dir"]), "heldout"
    config = EnvConfig(
        backend="habitat", split=split, resolution=RESOLUTION, habitat_data_path=data, habitat_scenes_dir=scenes
    )
    return Case("habitat", config, load_episodes_for(config)[:6])


@pytest.fixture(scope="module", params=["embedded", "habitat"])
def case(request, tmp_path_factory) -> Case:
    built = _embedded() if request.param == "embedded" else _habitat(tmp_path_factory.mktemp("habitat_export"))
    yield built
    if built.shared is not None:
        built.shared.close()


@pytest.fixture
def backend(case):
    backend = case.backend()
    backend.reset(np.arange(NUM_ENVS), case.episodes[:NUM_ENVS])
    yield backend
    backend.close()


def _angle(a: np.ndarray) -> np.ndarray:
    """Wrap angles to (-pi, pi]."""
    return np.arctan2(np.sin(a), np.cos(a))


def test_implements_the_protocol(case):
    backend = case.backend()
    try:
        assert isinstance(backend, Backend)
        assert backend.num_envs == NUM_ENVS
        assert backend.forward_step == pytest.approx(case.config.forward_step)
        assert backend.turn_angle == pytest.approx(math.radians(case.config.turn_angle_deg))
    finally:
        backend.close()


def test_task_spaces_and_observations(case):
    task = PointNavTask(case.config, case.backend(), case.episodes, seed=0)
    try:
        space, m, r = task.observation_space, case.config.map_size, RESOLUTION
        expected = {"rgb": ((3, r, r), np.uint8), "map": ((3, m, m), np.uint8), "target": ((3,), np.float32)}
        for key, (shape, dtype) in expected.items():
            assert space[key].shape == shape and space[key].dtype == dtype, key
        obs = task.reset()
        for key, (shape, dtype) in expected.items():
            assert obs[key].shape == (NUM_ENVS, *shape) and obs[key].dtype == dtype, key
        step = task.step(np.full(NUM_ENVS, int(Action.TURN_LEFT)))
        for i in range(NUM_ENVS):
            assert space.contains({k: v[i] for k, v in step.observations.items()})
            assert STEP_INFO_KEYS <= set(step.infos[i])
    finally:
        task.close()


def test_reset_step_render_shapes(backend):
    positions, headings = backend.poses()
    assert positions.shape == (NUM_ENVS, 2) and headings.shape == (NUM_ENVS,)
    geodesic = backend.geodesic_distance()
    assert geodesic.shape == (NUM_ENVS,) and np.all(np.isfinite(geodesic) & (geodesic > 0))
    expert = backend.expert_action(0.2)
    assert expert.shape == (NUM_ENVS,) and np.isin(expert, [a.value for a in Action]).all()
    result = backend.step(np.full(NUM_ENVS, int(Action.MOVE_FORWARD)))
    assert result.collided.shape == (NUM_ENVS,) and result.collided.dtype == bool
    full = backend.render(("rgb",))
    assert full["rgb"].shape == (NUM_ENVS, 3, RESOLUTION, RESOLUTION) and full["rgb"].dtype == np.uint8
    subset = backend.render(("rgb",), env_ids=np.array([1]))  # only the rows asked for, in that order
    assert subset["rgb"].shape == (1, 3, RESOLUTION, RESOLUTION)
    np.testing.assert_array_equal(subset["rgb"][0], full["rgb"][1])


def test_forward_moves_by_forward_step_along_the_heading_or_collides(backend):
    free_moves = 0
    for _ in range(8):
        before, heading = backend.poses()
        collided = backend.step(np.full(NUM_ENVS, int(Action.MOVE_FORWARD))).collided
        after, heading_after = backend.poses()
        np.testing.assert_allclose(_angle(heading_after - heading), 0.0, atol=1e-4)  # moving never turns
        moved = np.linalg.norm(after - before, axis=1)
        assert np.all(moved <= backend.forward_step + 1e-3)
        direction = np.stack([np.cos(heading), np.sin(heading)], axis=1)
        expected = before + backend.forward_step * direction
        free = ~collided
        np.testing.assert_allclose(after[free], expected[free], atol=1e-3)
        free_moves += int(free.sum())
    assert free_moves > 0, "no agent ever moved on open floor: the episodes start against walls?"


def test_turns_change_the_heading_by_turn_angle_in_place(backend):
    before, heading = backend.poses()
    backend.step(np.array([Action.TURN_LEFT, Action.TURN_RIGHT][:NUM_ENVS]))
    after, heading_after = backend.poses()
    np.testing.assert_allclose(after, before, atol=1e-4)
    expected = heading + np.array([1.0, -1.0])[:NUM_ENVS] * backend.turn_angle
    np.testing.assert_allclose(_angle(heading_after - expected), 0.0, atol=1e-4)


def test_following_the_expert_shortens_the_geodesic_and_reaches_the_goal(case):
    backend = case.backend()
    try:
        backend.reset(np.arange(NUM_ENVS), case.episodes[:NUM_ENVS])
        radius = case.config.success_distance
        start = backend.geodesic_distance()
        distance, arrived = start.copy(), np.zeros(NUM_ENVS, bool)
        for _ in range(case.config.max_steps):
            actions = backend.expert_action(radius)
            arrived |= actions == Action.STOP
            if arrived.all():
                break
            backend.step(np.where(arrived, int(Action.STOP), actions))
            now = backend.geodesic_distance()
            forward = (actions == Action.MOVE_FORWARD) & ~arrived
            assert np.all(now[forward] < distance[forward] + 1e-3), "an expert move lengthened the path"
            distance = now
        assert arrived.all() and np.all(distance < radius)
    finally:
        backend.close()


def test_task_reports_success_and_spl_for_the_expert(case):
    task = PointNavTask(case.config, case.backend(), case.episodes, seed=0, sampling="sequential")
    try:
        task.reset()
        finished: dict[int, dict] = {}
        for _ in range(case.config.max_steps):
            step = task.step(task.expert_actions(), autoreset=False)
            for i in np.flatnonzero(step.done):
                finished.setdefault(int(i), step.infos[i])
            if len(finished) == NUM_ENVS:
                break
            if step.done.any():  # the finished env waits at STOP while the other one walks on
                task.reset(np.flatnonzero(step.done))
        assert len(finished) == NUM_ENVS
        for info in finished.values():
            assert METRIC_KEYS | STEP_INFO_KEYS <= set(info)
            assert info["success"] == 1.0 and 0.0 < info["spl"] <= 1.0
    finally:
        task.close()
