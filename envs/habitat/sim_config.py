"""The habitat-sim configuration of one PointNav agent, built from EnvConfig.

Written against habitat-sim 0.3.3's public API (``habitat_sim.SimulatorConfiguration``,
``AgentConfiguration``, ``CameraSensorSpec``, ``ActionSpec``/``ActuationSpec``, ``nav.NavMeshSettings``),
the same calls habitat-lab's ``HabitatSim.create_sim_config`` makes. The module object is passed in so this
file never imports habitat_sim itself.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence
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


EGL_CUDA_DEVICE_NV = 0x323A  # EGL_NV_device_cuda: the CUDA device id of an EGL device


def gpu_device_id_for(
    environ: Mapping[str, str], cuda_available: bool, egl_cuda_ids: Sequence[int] | None
) -> tuple[int, str | None]:
    """habitat-sim's ``gpu_device_id`` for this process, and a warning line when it had to fall back.

    Without CUDA: -1 (any EGL device). With CUDA: ``LOCAL_RANK`` (0 outside torchrun), so each torchrun rank renders
    on its own GPU. ``egl_cuda_ids``: the CUDA device ids EGL's devices carry (None: not known); when none is that
    id, -1 with a warning, since habitat-sim would abort ("unable to find CUDA device N among M EGL devices")."""
    if not cuda_available:
        return -1, None
    local_rank = int(environ.get("LOCAL_RANK", "0") or 0)
    if egl_cuda_ids is None or local_rank in egl_cuda_ids:
        return local_rank, None
    offered = ", ".join(map(str, egl_cuda_ids)) or "none"
    return -1, (
        f"warning: habitat-sim: EGL offers no CUDA device {local_rank} (CUDA devices among its EGL devices: "
        f"{offered}); rendering on EGL device -1 (any), maybe not this process's GPU"
    )


def egl_cuda_device_ids() -> list[int] | None:
    """The CUDA device ids of EGL's devices (EGL_EXT_device_query, EGL_NV_device_cuda), read through libEGL;
    None when libEGL or those extensions are missing."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        egl = ctypes.CDLL(name)
    except OSError:
        return None
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    query_devices = egl.eglGetProcAddress(b"eglQueryDevicesEXT")
    query_attrib = egl.eglGetProcAddress(b"eglQueryDeviceAttribEXT")
    if not query_devices or not query_attrib:
        return None
    devices_fn = ctypes.CFUNCTYPE(
        ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int)
    )(query_devices)
    attrib_fn = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_ssize_t))(
        query_attrib
    )
    count = ctypes.c_int(0)
    if not devices_fn(0, None, ctypes.byref(count)) or count.value <= 0:
        return []
    devices = (ctypes.c_void_p * count.value)()
    if not devices_fn(count.value, devices, ctypes.byref(count)):
        return []
    ids = []
    for device in devices[: count.value]:
        value = ctypes.c_ssize_t(-1)
        if attrib_fn(device, EGL_CUDA_DEVICE_NV, ctypes.byref(value)):
            ids.append(int(value.value))
    return ids


@functools.lru_cache(maxsize=1)
def default_gpu_device_id() -> int:
    """This process's habitat-sim GPU (`gpu_device_id_for` on this machine): LOCAL_RANK with CUDA, -1 without;
    the fallback's warning is printed once per process."""
    import torch

    cuda = torch.cuda.is_available()
    device_id, warning = gpu_device_id_for(os.environ, cuda, egl_cuda_device_ids() if cuda else None)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    return device_id


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
