"""Habitat backend: episode sets (both PointNav v1 layouts), scene paths, the missing-habitat error, pose
conversion and batching against a small stand-in ``habitat_sim`` that follows habitat's conventions, normals
from depth, and (only where habitat-sim and a scene exist) the real simulator."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from envs.backend import Action, Backend
from envs.config import ConfigError, EnvConfig
from envs.episodes import Episode, EpisodeFileError, heading_to_quaternion, save_episodes, xy_to_habitat
from envs.habitat import (
    BackendUnavailableError,
    HabitatBackend,
    SceneNotFoundError,
    habitat_sim_available,
    load_habitat_episodes,
    resolve_scene_path,
    scene_name,
)
from envs.habitat.normals import normals_from_depth

ROOT = Path(__file__).resolve().parents[1]


def _episode(i: int, scene: str, start=(0.0, 0.0), heading=0.0, goal=(2.0, 0.0)) -> Episode:
    return Episode(
        episode_id=str(i),
        scene_id=scene,
        start_position=xy_to_habitat(*start),
        start_rotation=heading_to_quaternion(heading),
        goal_position=xy_to_habitat(*goal),
        geodesic_distance=2.0,
    )


def _scenes(tmp_path: Path, *ids: str) -> Path:
    root = tmp_path / "scene_datasets"
    for scene_id in ids:
        (root / scene_id).parent.mkdir(parents=True, exist_ok=True)
        (root / scene_id).write_bytes(b"glb")
    return root


# --- episode sets ------------------------------------------------------------------------------------------


def test_flat_layout_and_buildings_filter(tmp_path):
    scenes = _scenes(tmp_path, "gibson/A.glb", "gibson/B.glb")
    save_episodes(tmp_path / "v1/train/train.json.gz", [_episode(0, "gibson/A.glb"), _episode(1, "gibson/B.glb")])
    cfg = EnvConfig(backend="habitat", habitat_data_path=str(tmp_path / "v1"), habitat_scenes_dir=str(scenes))
    assert [e.episode_id for e in load_habitat_episodes(cfg, "train")] == ["0", "1"]
    cfg.buildings = ["B"]
    assert [e.scene_id for e in load_habitat_episodes(cfg, "train")] == ["gibson/B.glb"]


def test_content_layout_like_gibson_release(tmp_path):
    """Gibson/HM3D: empty top-level list, episodes per scene in content/{scene}.json.gz; heldout -> val."""
    scenes = _scenes(tmp_path, "gibson/A.glb", "gibson/B.glb")
    save_episodes(tmp_path / "v1/val/val.json.gz", [])
    save_episodes(tmp_path / "v1/val/content/B.json.gz", [_episode(2, "data/scene_datasets/gibson/B.glb")])
    save_episodes(tmp_path / "v1/val/content/A.json.gz", [_episode(0, "gibson/A.glb"), _episode(1, "gibson/A.glb")])
    cfg = EnvConfig(backend="habitat", habitat_data_path=str(tmp_path / "v1"), habitat_scenes_dir=str(scenes))
    assert [e.episode_id for e in load_habitat_episodes(cfg, "heldout")] == ["0", "1", "2"]
    cfg.buildings = ["B"]
    assert [e.episode_id for e in load_habitat_episodes(cfg, "val")] == ["2"]
    cfg.buildings = ["Nowhere"]
    with pytest.raises(EpisodeFileError, match=r"Nowhere.*available: \['A', 'B'\]"):
        load_habitat_episodes(cfg, "val")


def test_data_path_template_and_missing_files(tmp_path):
    save_episodes(tmp_path / "v1/train/train.json.gz", [_episode(0, "gibson/A.glb")])
    template = str(tmp_path / "v1/{split}/{split}.json.gz")
    cfg = EnvConfig(backend="habitat", habitat_data_path=template)
    assert len(load_habitat_episodes(cfg, "train", check_scenes=False)) == 1
    with pytest.raises(EpisodeFileError, match=r"val\.json\.gz does not exist.*splits found: \['train'\]"):
        load_habitat_episodes(cfg, "val")
    with pytest.raises(ConfigError, match="habitat_data_path is not set"):
        load_habitat_episodes(EnvConfig(backend="habitat"), "train")


def test_missing_scenes_fail_at_load_with_path_and_fix(tmp_path):
    save_episodes(tmp_path / "v1/train/train.json.gz", [_episode(0, "gibson/Missing.glb")])
    cfg = EnvConfig(backend="habitat", habitat_data_path=str(tmp_path / "v1"), habitat_scenes_dir=str(tmp_path))
    with pytest.raises(SceneNotFoundError, match=r"gibson/Missing\.glb .*does not exist.*--scenes-dir"):
        load_habitat_episodes(cfg, "train")
    cfg.habitat_scenes_dir = None
    with pytest.raises(SceneNotFoundError, match="habitat_scenes_dir is not set"):
        load_habitat_episodes(cfg, "train")


def test_scene_paths_and_names(tmp_path):
    scenes = _scenes(tmp_path, "hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb")
    sid = "data/scene_datasets/hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb"
    path = resolve_scene_path(sid, scenes)
    assert path == scenes / "hm3d/val/00800-TEEsavR23oF/TEEsavR23oF.basis.glb"
    assert resolve_scene_path(str(path), None) == path  # absolute ids are used as they are
    assert scene_name(sid) == "TEEsavR23oF" and scene_name("gibson/Allensville.glb") == "Allensville"


# --- availability -------------------------------------------------------------------------------------------


def test_importing_envs_habitat_does_not_import_habitat_sim():
    code = "import sys, envs.habitat, envs.habitat.backend; assert 'habitat_sim' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_constructing_without_habitat_sim_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "habitat_sim", None)  # what an environment without habitat-sim sees
    with pytest.raises(BackendUnavailableError, match=r"conda env create -f environment\.yml"):
        HabitatBackend(EnvConfig(backend="habitat"), num_envs=2)


# --- a stand-in habitat_sim: habitat's conventions on an open floor with a wall at X = 1 --------------------


class _Rotation:
    """What numpy-quaternion exposes: .x .y .z .w of a rotation about +Y by ``yaw``."""

    def __init__(self, yaw: float) -> None:
        self.x, self.y, self.z, self.w = 0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2)


class _Agent:
    WALL_X = 1.0

    def __init__(self, cfg) -> None:
        self.cfg, self.position, self.yaw = cfg, np.zeros(3), 0.0

    def set_state(self, state, reset_sensors=True) -> None:
        x, y, z, w = state.rotation
        self.position, self.yaw = np.array(state.position, dtype=float), 2 * math.atan2(y, w)

    def get_state(self):
        return SimpleNamespace(position=self.position.astype(np.float32), rotation=_Rotation(self.yaw))

    def act(self, name: str) -> bool:
        amount = self.cfg.action_space[name].actuation.amount
        if name == "move_forward":  # habitat: identity looks along -Z; yaw rotates about +Y
            new = self.position + amount * np.array([-math.sin(self.yaw), 0.0, -math.cos(self.yaw)])
            if new[0] > self.WALL_X:
                return True
            self.position = new
        else:
            self.yaw += math.radians(amount if name == "turn_left" else -amount)
        return False


class _PathFinder:
    def __init__(self, sim) -> None:
        self.sim = sim

    def snap_point(self, point):
        return np.asarray(point, dtype=np.float32)

    def find_path(self, path) -> bool:
        if path.requested_end[1] > 50:  # a goal on another floor: unreachable
            path.geodesic_distance = math.inf
            return False
        path.geodesic_distance = float(np.linalg.norm(path.requested_end - path.requested_start))
        return True


class _GreedyFollowerError(RuntimeError):
    pass


class _Follower:
    def __init__(self, sim, radius, stop_key, forward_key, left_key, right_key) -> None:
        self.sim, self.radius, self.keys = sim, radius, (stop_key, forward_key, left_key, right_key)

    def next_action_along(self, goal):
        pos = self.sim.agent.position
        if goal[1] > 50:
            raise _GreedyFollowerError()
        return self.keys[0] if np.linalg.norm(goal - pos) < self.radius else self.keys[1]


class _Simulator:
    def __init__(self, cfg) -> None:
        self.configs, self.closed = [cfg], False
        self.agent, self.pathfinder = _Agent(cfg.agents[0]), _PathFinder(self)
        res = cfg.agents[0].sensor_specifications[0].resolution
        self.buffers = {"rgb": np.full((*res, 4), 7, np.uint8), "depth": np.full(res, 2.0, np.float32)}

    def reconfigure(self, cfg) -> None:
        self.configs.append(cfg)
        self.agent = _Agent(cfg.agents[0])

    def get_agent(self, agent_id):
        return self.agent

    def get_sensor_observations(self):
        uuids = {s.uuid for s in self.configs[-1].agents[0].sensor_specifications}
        return {k: v for k, v in self.buffers.items() if k in uuids}  # habitat returns its own buffers

    def make_greedy_follower(self, agent_id, goal_radius, *, stop_key, forward_key, left_key, right_key):
        return _Follower(self, goal_radius, stop_key, forward_key, left_key, right_key)

    def close(self) -> None:
        self.closed = True


def _fake_habitat_sim() -> types.ModuleType:
    mod = types.ModuleType("habitat_sim")
    for name in ("SimulatorConfiguration", "CameraSensorSpec", "AgentConfiguration", "AgentState", "ShortestPath"):
        setattr(mod, name, type(name, (SimpleNamespace,), {}))  # attribute bags, like habitat's config structs
    mod.SensorType = SimpleNamespace(COLOR="COLOR", DEPTH="DEPTH")
    mod.SensorSubType = SimpleNamespace(PINHOLE="PINHOLE")
    mod.ActionSpec = lambda name, actuation: SimpleNamespace(name=name, actuation=actuation)
    mod.ActuationSpec = lambda amount: SimpleNamespace(amount=amount)
    mod.Configuration = lambda sim_cfg, agents: SimpleNamespace(sim_cfg=sim_cfg, agents=agents)
    mod.nav = SimpleNamespace(NavMeshSettings=type("NavMeshSettings", (SimpleNamespace,), {"set_defaults": lambda self: None}))
    mod.errors = SimpleNamespace(GreedyFollowerError=_GreedyFollowerError)
    mod.Simulator = _Simulator
    return mod


@pytest.fixture
def fake_backend(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "habitat_sim", _fake_habitat_sim())
    scenes = _scenes(tmp_path, "gibson/A.glb", "gibson/B.glb")
    cfg = EnvConfig(backend="habitat", habitat_scenes_dir=str(scenes), resolution=32, sensors=["rgb", "depth", "normals"],
                    agent_radius=0.18, camera_height=0.88)
    backend = HabitatBackend(cfg, num_envs=2)
    yield backend
    backend.close()


def test_configuration_follows_env_config(fake_backend):
    fake_backend.reset(np.array([0]), [_episode(0, "gibson/A.glb")])
    cfg = fake_backend._sims[0].configs[-1]
    agent = cfg.agents[0]
    assert cfg.sim_cfg.scene_id.endswith("gibson/A.glb") and cfg.sim_cfg.navmesh_settings.agent_radius == 0.18
    assert agent.radius == 0.18 and agent.action_space["move_forward"].actuation.amount == 0.25
    assert agent.action_space["turn_left"].actuation.amount == 10.0
    rgb, depth = agent.sensor_specifications
    assert (rgb.uuid, rgb.resolution, rgb.hfov, rgb.position) == ("rgb", [32, 32], 90.0, [0.0, 0.88, 0.0])
    assert depth.sensor_type == "DEPTH"
    assert isinstance(fake_backend, Backend)


def test_poses_and_motion_follow_the_ground_plane_convention(fake_backend):
    heading = math.radians(30)
    fake_backend.reset(np.array([0, 1]), [_episode(0, "gibson/A.glb", (0.5, -1.0), heading),
                                          _episode(1, "gibson/A.glb", (0.0, 0.0), 0.0)])
    pos, head = fake_backend.poses()
    np.testing.assert_allclose(pos, [[0.5, -1.0], [0.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(head, [heading, 0.0], atol=1e-6)
    fake_backend.step(np.array([Action.MOVE_FORWARD, Action.TURN_LEFT]))
    pos2, head2 = fake_backend.poses()
    np.testing.assert_allclose(pos2[0], pos[0] + 0.25 * np.array([math.cos(heading), math.sin(heading)]), atol=1e-6)
    np.testing.assert_allclose(head2, [heading, math.radians(10)], atol=1e-6)  # TURN_LEFT increases heading


def test_collisions_stop_and_unknown_actions(fake_backend):
    fake_backend.reset(np.array([0, 1]), [_episode(0, "gibson/A.glb", (0.9, 0.0), 0.0)] * 2)  # facing the wall
    result = fake_backend.step(np.array([Action.MOVE_FORWARD, Action.STOP]))
    assert result.collided.tolist() == [True, False]
    np.testing.assert_allclose(fake_backend.poses()[0], [[0.9, 0.0], [0.9, 0.0]], atol=1e-6)
    with pytest.raises(ValueError, match="action 7 for agent 1 is unknown"):
        fake_backend.step(np.array([0, 7]))
    with pytest.raises(ValueError, match="num_envs=2"):
        fake_backend.step(np.array([0]))


def test_scene_reloads_only_when_it_changes(fake_backend):
    fake_backend.reset(np.array([0, 1]), [_episode(0, "gibson/A.glb"), _episode(1, "gibson/A.glb")])
    sim0 = fake_backend._sims[0]
    fake_backend.reset(np.array([0]), [_episode(2, "gibson/A.glb")])
    assert len(sim0.configs) == 1
    fake_backend.reset(np.array([0]), [_episode(3, "gibson/B.glb")])
    assert fake_backend._sims[0] is sim0 and len(sim0.configs) == 2 and sim0.configs[-1].sim_cfg.scene_id.endswith("B.glb")
    with pytest.raises(SceneNotFoundError):
        fake_backend.reset(np.array([1]), [_episode(4, "gibson/C.glb")])


def test_render_is_channel_first_and_copied(fake_backend):
    with pytest.raises(RuntimeError, match="call reset"):
        fake_backend.render()
    fake_backend.reset(np.array([0, 1]), [_episode(0, "gibson/A.glb")] * 2)
    obs = fake_backend.render(("rgb", "depth", "normals"))
    assert obs["rgb"].shape == (2, 3, 32, 32) and obs["rgb"].dtype == np.uint8
    assert obs["depth"].shape == (2, 1, 32, 32) and obs["depth"].dtype == np.float32
    assert obs["normals"].shape == (2, 3, 32, 32)
    fake_backend._sims[0].buffers["rgb"][:] = 99  # habitat overwrites its buffers on the next render
    assert (obs["rgb"] == 7).all()


def test_geodesic_and_expert(fake_backend):
    fake_backend.reset(np.array([0, 1]), [_episode(0, "gibson/A.glb", goal=(0.1, 0.0)),
                                          _episode(1, "gibson/A.glb", goal=(3.0, 0.0))])
    np.testing.assert_allclose(fake_backend.geodesic_distance(), [0.1, 3.0], atol=1e-6)
    assert fake_backend.expert_action(0.2).tolist() == [Action.STOP, Action.MOVE_FORWARD]
    unreachable = _episode(2, "gibson/A.glb")
    unreachable = Episode(**{**unreachable.__dict__, "goal_position": (0.0, 99.0, 0.0)})
    fake_backend.reset(np.array([1]), [unreachable])
    assert math.isinf(fake_backend.geodesic_distance()[1])
    assert fake_backend.expert_action(0.2)[1] == Action.STOP  # like ShortestPathFollower(stop_on_error=True)


# --- normals from depth -------------------------------------------------------------------------------------


def test_normals_of_a_wall_and_a_floor():
    wall = normals_from_depth(np.full((16, 16), 3.0, np.float32), 90.0)
    np.testing.assert_allclose(wall[:, 2:-2, 2:-2], np.broadcast_to([[[0.0]], [[0.0]], [[1.0]]], (3, 12, 12)), atol=1e-5)
    h, size = 1.2, 32  # a horizontal camera 1.2 m above a floor: rows below the centre see y = -h
    f = (size / 2) / math.tan(math.radians(45))
    v = (np.arange(size) + 0.5 - size / 2) / f
    depth = np.where(v[:, None] > 0, h / np.maximum(v[:, None], 1e-6), np.inf) * np.ones((1, size))
    floor = normals_from_depth(depth.astype(np.float32), 90.0)
    np.testing.assert_allclose(floor[:, size // 2 + 2 : -1, 1:-1].reshape(3, -1).mean(1), [0.0, 1.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(floor[:, 0, 0], [0.0, 0.0, 1.0])  # no depth: the default normal


# --- the real simulator (habitat-sim installed and a scene given) ------------------------------------------

REAL_SCENE = os.environ.get("SIDETUNE_HABITAT_SCENE")
if not habitat_sim_available():
    REAL_SKIP = "habitat-sim is not installed (conda only: conda env create -f environment.yml)"
elif not REAL_SCENE:
    REAL_SKIP = "set SIDETUNE_HABITAT_SCENE to a scene .glb with its .navmesh (e.g. habitat-test-scenes)"
else:
    REAL_SKIP = ""


@pytest.mark.habitat
@pytest.mark.skipif(bool(REAL_SKIP), reason=REAL_SKIP)
def test_real_habitat_sim_walk_render_and_expert():
    cfg = EnvConfig(backend="habitat", resolution=64, sensors=["rgb", "depth"], agent_radius=0.1)
    backend = HabitatBackend(cfg, num_envs=2)
    try:
        start = _episode(0, os.path.abspath(REAL_SCENE))
        backend.reset(np.array([0, 1]), [start, start])
        pathfinder = backend._sims[0].pathfinder
        pathfinder.seed(0)
        a, b = pathfinder.get_random_navigable_point(), pathfinder.get_random_navigable_point()
        ep = Episode("1", start.scene_id, tuple(map(float, a)), heading_to_quaternion(0.3), tuple(map(float, b)), math.nan)
        backend.reset(np.array([0, 1]), [ep, ep])
        pos, head = backend.poses()
        np.testing.assert_allclose(pos[0], [a[0], -a[2]], atol=1e-4)
        np.testing.assert_allclose(head[0], 0.3, atol=1e-4)
        obs = backend.render(("rgb", "depth"))
        assert obs["rgb"].shape == (2, 3, 64, 64) and obs["depth"].shape == (2, 1, 64, 64)
        d0 = backend.geodesic_distance()
        assert np.isfinite(d0).all()
        for _ in range(500):
            actions = backend.expert_action(0.2)
            if (actions == Action.STOP).all():
                break
            backend.step(actions)
        assert (backend.geodesic_distance() < 0.25).all()
    finally:
        backend.close()
