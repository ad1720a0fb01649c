"""The habitat-sim configuration of one PointNav agent, built from EnvConfig.

Written against habitat-sim 0.3.3's public API (``habitat_sim.SimulatorConfiguration``,
``AgentConfiguration``, ``CameraSensorSpec``, ``ActionSpec``/``ActuationSpec``, ``nav.NavMeshSettings``),
the same calls habitat-lab's ``HabitatSim.create_sim_config`` makes. The module object is passed in so this
file never imports habitat_sim itself.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from envs.backend import Action
from envs.config import EnvConfig

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


def _camera_spec(habitat_sim: ModuleType, config: EnvConfig, uuid: str, sensor_type: Any) -> Any:
    spec = habitat_sim.CameraSensorSpec()
    spec.uuid = uuid
    spec.sensor_type = sensor_type
    spec.sensor_subtype = habitat_sim.SensorSubType.PINHOLE
    spec.resolution = [config.resolution, config.resolution]  # [height, width]
    spec.position = [0.0, config.camera_height, 0.0]  # relative to the agent's base on the floor
    spec.hfov = config.hfov_deg
    return spec


def build_configuration(habitat_sim: ModuleType, config: EnvConfig, scene_path: str, seed: int) -> Any:
    """A ``habitat_sim.Configuration`` for one agent in ``scene_path``: RGB (and depth) camera at
    ``camera_height``, forward/turn actions from the config, and a navmesh for the config's agent size."""
    sim_cfg = habitat_sim.SimulatorConfiguration()
    sim_cfg.scene_id = str(scene_path)
    sim_cfg.gpu_device_id = 0
    sim_cfg.random_seed = int(seed)
    sim_cfg.allow_sliding = True  # like habitat-lab's default and the embedded backend: slide along walls
    sim_cfg.enable_physics = False  # PointNav moves the agent on the navmesh; no dynamics needed
    navmesh = habitat_sim.nav.NavMeshSettings()
    navmesh.set_defaults()
    navmesh.agent_radius = config.agent_radius
    navmesh.agent_height = config.agent_height
    sim_cfg.navmesh_settings = navmesh  # recompute the navmesh for this agent, as habitat-lab does

    sensors = [_camera_spec(habitat_sim, config, RGB_UUID, habitat_sim.SensorType.COLOR)]
    if needs_depth(config):
        sensors.append(_camera_spec(habitat_sim, config, DEPTH_UUID, habitat_sim.SensorType.DEPTH))

    agent_cfg = habitat_sim.AgentConfiguration()
    agent_cfg.height = config.agent_height
    agent_cfg.radius = config.agent_radius
    agent_cfg.sensor_specifications = sensors
    amounts = {
        Action.MOVE_FORWARD: config.forward_step,
        Action.TURN_LEFT: config.turn_angle_deg,
        Action.TURN_RIGHT: config.turn_angle_deg,
    }
    agent_cfg.action_space = {
        name: habitat_sim.ActionSpec(name, habitat_sim.ActuationSpec(amount=amounts[action]))
        for action, name in ACTION_NAMES.items()
    }
    return habitat_sim.Configuration(sim_cfg, [agent_cfg])
