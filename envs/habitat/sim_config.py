"""The habitat-sim configuration of one PointNav agent, built from EnvConfig.

Written against habitat-sim 0.3.3's public API (``habitat_sim.SimulatorConfiguration``,
``AgentConfiguration``, ``CameraSensorSpec``, ``ActionSpec``/``ActuationSpec``, ``nav.NavMeshSettings``),
the same calls habitat-lab's ``HabitatSim.create_sim_config`` makes. The module object is passed in so this
file never imports habitat_sim itself.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any

from envs.backend import Action
from envs.config import EnvConfig

NAVMESH_CELL_HEIGHT = 0.05  # m; the navmesh lies up to one cell height above the floor (habitat's default 0.2
# would lift the agent, and its camera, 0.2 m above an exported building's floor)
RGB_UUID = "rgb"
DEPTH_UUID = "depth"
# habitat-sim action names (its default controls) for the toolkit's action ids; STOP never reaches the sim
ACTION_NAMES = {
    Action.MOVE_FORWARD: "move_forward",
    Action.TURN_LEFT: "turn_left",
    Action.TURN_RIGHT: "turn_right",
}


def needs_depth(config: EnvConfig) -> bool:
    """Depth is rendered for the depth sensor and for normals (which are derived from depth)."""
    return bool({"depth", "normals"} & set(config.sensors))


@functools.lru_cache(maxsize=1)
def default_gpu_device_id() -> int:
    """0 (the first CUDA device, habitat-sim's default) when torch sees CUDA, else -1: any EGL device.

    habitat-sim matches its EGL display to a CUDA device id; without CUDA that id must be -1, or creating the
    simulator aborts the process ("unable to find CUDA device 0 among 1 EGL devices").
    """
    import torch

    return 0 if torch.cuda.is_available() else -1


def scene_dataset_config(scene_path: str | Path) -> str:
    """The ``*.scene_dataset_config.json`` beside the scene (it says the stage's up axis), else ``"default"``.

    Exported embedded buildings ship one (Y-up stages); Gibson/MP3D ``.glb`` files have none and load with
    habitat-sim's defaults, as habitat-lab loads them.
    """
    found = sorted(Path(scene_path).parent.glob("*.scene_dataset_config.json"))
    if len(found) > 1:
        raise ValueError(
            f"several scene dataset configs beside {scene_path}: {[p.name for p in found]}; keep one per folder"
        )
    return str(found[0]) if found else "default"


def _camera_spec(habitat_sim: ModuleType, config: EnvConfig, uuid: str, sensor_type: Any) -> Any:
    spec = habitat_sim.CameraSensorSpec()
    spec.uuid = uuid
    spec.sensor_type = sensor_type
    spec.sensor_subtype = habitat_sim.SensorSubType.PINHOLE
    spec.resolution = [config.resolution, config.resolution]  # [height, width]
    spec.position = [
        0.0,
        float(config.camera_height),
        0.0,
    ]  # above the agent's base; floats: magnum rejects [0, 1.25, 0]
    spec.hfov = float(config.hfov_deg)
    return spec


def build_configuration(
    habitat_sim: ModuleType, config: EnvConfig, scene_path: str, seed: int, num_agents: int = 1
) -> Any:
    """A ``habitat_sim.Configuration`` for ``num_agents`` identical agents in ``scene_path``: RGB (and depth)
    camera at ``camera_height``, forward/turn actions from the config, and a navmesh for the config's agent size.
    Agents do not see or block each other (no physics, no agent meshes), so envs can share a simulator."""
    sim_cfg = habitat_sim.SimulatorConfiguration()
    sim_cfg.scene_dataset_config_file = scene_dataset_config(scene_path)
    sim_cfg.scene_id = str(scene_path)
    sim_cfg.gpu_device_id = default_gpu_device_id()
    sim_cfg.random_seed = int(seed)
    sim_cfg.allow_sliding = True  # like habitat-lab's default and the embedded backend: slide along walls
    sim_cfg.enable_physics = False  # PointNav moves the agent on the navmesh; no dynamics needed
    sim_cfg.load_semantic_mesh = False  # PointNav has no semantic sensor
    navmesh = habitat_sim.nav.NavMeshSettings()
    navmesh.set_defaults()
    navmesh.agent_radius = float(config.agent_radius)
    navmesh.agent_height = float(config.agent_height)
    navmesh.cell_height = NAVMESH_CELL_HEIGHT
    sim_cfg.navmesh_settings = navmesh  # recompute the navmesh for this agent, as habitat-lab does

    sensors = [_camera_spec(habitat_sim, config, RGB_UUID, habitat_sim.SensorType.COLOR)]
    if needs_depth(config):
        sensors.append(_camera_spec(habitat_sim, config, DEPTH_UUID, habitat_sim.SensorType.DEPTH))

    agent_cfg = habitat_sim.AgentConfiguration()
    agent_cfg.height = float(config.agent_height)
    agent_cfg.radius = float(config.agent_radius)
    agent_cfg.sensor_specifications = sensors
    amounts = {
        Action.MOVE_FORWARD: float(config.forward_step),
        Action.TURN_LEFT: float(config.turn_angle_deg),
        Action.TURN_RIGHT: float(config.turn_angle_deg),
    }
    agent_cfg.action_space = {
        name: habitat_sim.ActionSpec(name, habitat_sim.ActuationSpec(amount=amounts[action]))
        for action, name in ACTION_NAMES.items()
    }
    return habitat_sim.Configuration(sim_cfg, [agent_cfg] * int(num_agents))
