"""The Habitat backend on the real habitat-sim (0.3.3) and embedded buildings exported as Habitat scenes.

One simulator for the whole module (creating one takes ~13 s). Every habitat-sim call the backend makes runs
here: SimulatorConfiguration (scene dataset config, gpu_device_id), AgentConfiguration, CameraSensorSpec,
ActionSpec/ActuationSpec, nav.NavMeshSettings, Simulator, reconfigure, get_agent(0).act/get_state/set_state,
AgentState, get_sensor_observations, pathfinder.snap_point/find_path with ShortestPath, make_greedy_follower
with next_action_along, errors.GreedyFollowerError and close. Skipped, with the reason, without habitat-sim.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.backend import Action
from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import generate_episodes
from envs.episodes import Episode, heading_to_quaternion
from envs.habitat.availability import INSTALL_HINT, habitat_sim_available

pytestmark = [
    pytest.mark.habitat,
    pytest.mark.skipif(not habitat_sim_available(), reason=f"habitat-sim is not importable; {INSTALL_HINT}"),
]
pytest.importorskip(
    "trimesh", reason="trimesh is not installed, so no scene can be exported (pip install -e '.[habitat]')"
)

RES = 64
EMBEDDED = EnvConfig(
    split="heldout", num_train_buildings=1, num_heldout_buildings=2, resolution=RES, sensors=["rgb", "depth", "normals"]
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The two exported buildings, their episodes on both backends, and one Habitat backend (one simulator)."""
    from envs.habitat.backend import HabitatBackend
    from envs.habitat.scene_export import export_dataset, to_habitat_episodes

    episodes = generate_episodes(building_names("heldout", EMBEDDED), 3, seed=5, config=EMBEDDED)
    folders = export_dataset(tmp_path_factory.mktemp("export"), EMBEDDED, {"heldout": episodes})
    config = EnvConfig(
        **{
            **EMBEDDED.to_dict(),
            "backend": "habitat",
            "reward": EMBEDDED.reward,
            "episodes": EMBEDDED.episodes,
            "habitat_scenes_dir": str(folders["scenes_dir"]),
            "habitat_data_path": str(folders["data_path"]),
        }
    )
    backend = HabitatBackend(config, num_envs=1)
    yield {"config": config, "embedded": episodes, "habitat": to_habitat_episodes(episodes), "backend": backend}
    backend.close()


def _at(world, episode_index: int) -> tuple[object, Episode]:
    backend, episode = world["backend"], world["habitat"][episode_index]
    backend.reset(np.array([0]), [episode])
    return backend, episode


def test_configuration_is_built_for_this_machine(world):
    import habitat_sim
    import torch

    backend, _ = _at(world, 0)
    sim_cfg = backend._sim(0).config.sim_cfg
    assert sim_cfg.gpu_device_id == (0 if torch.cuda.is_available() else -1)  # -1: any EGL device, no CUDA
    assert sim_cfg.scene_dataset_config_file.endswith("embedded.scene_dataset_config.json")
    assert not habitat_sim.cuda_enabled or torch.cuda.is_available()


def test_reset_places_the_agent_at_the_episode_start_on_the_navmesh(world):
    backend, episode = _at(world, 1)
    positions, headings = backend.poses()
    np.testing.assert_allclose(positions[0], episode.start_xy, atol=1e-4)
    assert headings[0] == pytest.approx(episode.start_heading, abs=1e-4)
    height = backend._sim(0).get_agent(0).get_state().position[1]
    assert 0.0 <= height <= 0.06  # on the navmesh, within one navmesh cell height of the floor


def test_depth_matches_the_embedded_renderer_at_the_same_pose(world):
    """Same geometry, right way up: habitat's depth image agrees with the embedded ray-caster's."""
    from envs.embedded.backend import EmbeddedBackend

    embedded = EmbeddedBackend(EMBEDDED, 1)
    try:
        for k in range(3):
            backend, _ = _at(world, k)
            embedded.reset(np.array([0]), [world["embedded"][k]])
            ours = backend.render(("rgb", "depth", "normals"))
            theirs = embedded.render(("depth",))["depth"]
            rel = np.abs(ours["depth"] - theirs) / theirs
            assert np.median(rel) < 0.05, f"episode {k}: median relative depth difference {np.median(rel):.3f}"
            assert ours["rgb"].shape == (1, 3, RES, RES) and ours["rgb"].std() > 5  # textured, not blank
            assert ours["normals"].shape == (1, 3, RES, RES)
    finally:
        embedded.close()


def test_rendered_frames_are_copies(world):
    backend, _ = _at(world, 0)
    first = backend.render(("rgb",))["rgb"]
    kept = first.copy()
    for _ in range(9):
        backend.step(np.array([Action.TURN_LEFT]))
    assert not np.array_equal(backend.render(("rgb",))["rgb"], kept)  # the view changed ...
    np.testing.assert_array_equal(first, kept)  # ... and the earlier frame did not change with habitat's buffer


def test_walking_into_a_wall_collides_and_slides(world):
    backend, _ = _at(world, 0)
    collided = False
    for _ in range(200):  # straight ahead until a wall
        collided = bool(backend.step(np.array([Action.MOVE_FORWARD])).collided[0])
        if collided:
            break
    assert collided


def test_scene_changes_reconfigure_the_same_simulator(world):
    backend, _ = _at(world, 0)
    sim, created = backend._sim(0), backend.simulators_created
    other = next(i for i, ep in enumerate(world["habitat"]) if ep.scene_id != world["habitat"][0].scene_id)
    backend.reset(np.array([0]), [world["habitat"][other]])
    assert backend._sim(0) is sim and sim.config.sim_cfg.scene_id.endswith(world["habitat"][other].scene_id)
    assert backend.simulators_created == created
    assert np.isfinite(backend.geodesic_distance()).all()


def test_envs_in_one_scene_share_a_simulator(world):
    """Simulator creation is the expensive step (seconds), so envs share one per scene (an idle simulator is
    reconfigured, see above); with two scenes and two envs at most two simulators ever exist."""
    from envs.habitat.backend import HabitatBackend

    eps = world["habitat"]
    a = [ep for ep in eps if ep.scene_id == eps[0].scene_id]
    b = [ep for ep in eps if ep.scene_id != eps[0].scene_id]
    backend = HabitatBackend(world["config"], num_envs=2)
    try:
        backend.reset(np.array([0, 1]), [a[0], a[1]])
        assert backend._sim(0) is backend._sim(1) and backend.simulators_created == 1
        backend.reset(np.array([0]), [b[0]])  # env 1 still uses scene a: a second simulator
        backend.reset(np.array([1]), [b[1]])  # joins env 0's simulator; a's is idle now
        assert backend._sim(0) is backend._sim(1) and backend.simulators_created == 2
        backend.reset(np.array([0]), [a[2]])  # back to the idle simulator still in scene a: no third one
        assert backend._sim(0) is not backend._sim(1) and (backend.simulators_created, backend.reconfigures) == (2, 0)
        positions, _ = backend.poses()
        np.testing.assert_allclose(positions, [a[2].start_xy, b[1].start_xy], atol=1e-4)  # agents kept apart
        frames = backend.render(("rgb",))["rgb"]
        assert not np.array_equal(frames[0], frames[1])
        assert backend.step(np.array([Action.MOVE_FORWARD, Action.TURN_LEFT])).collided.shape == (2,)
        assert np.isfinite(backend.geodesic_distance()).all()
        assert backend.expert_action(0.2).shape == (2,)
    finally:
        backend.close()


def test_expert_reaches_each_goal_and_geodesic_shrinks(world):
    for k in range(len(world["habitat"])):
        backend, episode = _at(world, k)
        start = backend.geodesic_distance()[0]
        assert start == pytest.approx(episode.geodesic_distance, rel=0.15)  # navmesh vs the embedded grid
        for _ in range(EMBEDDED.max_steps):
            action = backend.expert_action(EMBEDDED.success_distance)[0]
            if action == Action.STOP:
                break
            backend.step(np.array([action]))
        assert backend.geodesic_distance()[0] < EMBEDDED.success_distance


def test_unreachable_goal_gives_inf_and_the_expert_stops(world):
    backend, episode = _at(world, 0)
    far = Episode(
        "far", episode.scene_id, episode.start_position, heading_to_quaternion(0.0), (500.0, 0.0, 500.0), math.nan
    )
    backend.reset(np.array([0]), [far])
    assert math.isinf(backend.geodesic_distance()[0])
    assert backend.expert_action(0.2)[0] == Action.STOP  # GreedyFollowerError -> STOP, like stop_on_error=True
