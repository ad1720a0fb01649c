"""Start and goal positions lifted onto the navmesh that stock habitat-lab computes for an exported building.

Embedded episodes hold floor points (y = 0). habitat-lab recomputes every scene's navmesh with
``NavMeshSettings.set_defaults()`` (cell height 0.2 m) plus its agent's radius, height, max climb and slope, so
its navmesh, and its agent, lie 0.2 m above the floor; a goal on the floor is then never within the 0.2 m success
radius. The exporter therefore writes each position snapped onto that same navmesh, computed here by habitat-sim
without a renderer (no GL context, ~0.1 s a building).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from common.errors import UserError
from envs.config import EnvConfig
from envs.episodes import GEODESIC_SOURCE_KEY, Episode
from envs.habitat.sim_config import scene_dataset_config

LAB_MAX_CLIMB = 0.2  # habitat-lab 0.3.3 AgentConfig.max_climb / max_slope, which it copies into the navmesh settings
LAB_MAX_SLOPE = 45.0
MAX_HORIZONTAL_SHIFT = 0.1  # m; a snap that moves a point further sideways means the point was off the navmesh


class SnapError(UserError, ValueError):
    """An episode point that has no navmesh point near it (a building whose navmesh lost an area)."""


def lab_navmesh_settings(habitat_sim: ModuleType, config: EnvConfig) -> Any:
    """The ``NavMeshSettings`` habitat-lab's ``HabitatSim.create_sim_config`` builds for an agent of ``config``."""
    settings = habitat_sim.nav.NavMeshSettings()
    settings.set_defaults()
    settings.agent_radius = float(config.agent_radius)
    settings.agent_height = float(config.agent_height)
    settings.agent_max_climb = LAB_MAX_CLIMB
    settings.agent_max_slope = LAB_MAX_SLOPE
    return settings


def _navmesh_configuration(habitat_sim: ModuleType, config: EnvConfig, scene_path: Path) -> Any:
    sim_cfg = habitat_sim.SimulatorConfiguration()
    sim_cfg.scene_dataset_config_file = scene_dataset_config(scene_path)
    sim_cfg.scene_id = str(scene_path)
    sim_cfg.create_renderer = False  # navmesh only: no GL context, no shader compilation
    sim_cfg.enable_physics = False
    sim_cfg.load_semantic_mesh = False
    sim_cfg.navmesh_settings = lab_navmesh_settings(habitat_sim, config)
    agent_cfg = habitat_sim.AgentConfiguration()
    agent_cfg.height, agent_cfg.radius = float(config.agent_height), float(config.agent_radius)
    agent_cfg.sensor_specifications = []
    return habitat_sim.Configuration(sim_cfg, [agent_cfg])


def _snap(pathfinder: Any, position: tuple[float, float, float], where: str) -> tuple[float, float, float]:
    point = np.asarray(position, dtype=np.float32)
    snapped = np.asarray(pathfinder.snap_point(point), dtype=np.float64)
    shift = float(np.hypot(*(snapped - point)[[0, 2]])) if np.isfinite(snapped).all() else np.inf
    if shift > MAX_HORIZONTAL_SHIFT:
        raise SnapError(
            f"{where} {tuple(point.tolist())} has no navmesh point within {MAX_HORIZONTAL_SHIFT} m "
            f"(nearest {snapped.tolist()})"
        )
    return tuple(round(float(v), 5) for v in snapped)  # type: ignore[return-value]


def _navmesh_geodesic(habitat_sim: ModuleType, pathfinder: Any, start: Any, goal: Any, ep: Episode) -> float:
    """habitat-sim's own geodesic distance between the snapped start and goal (what habitat-lab measures SPL
    against); the embedded grid's when the navmesh finds no path."""
    path = habitat_sim.ShortestPath()
    path.requested_start, path.requested_end = list(start), list(goal)
    return float(path.geodesic_distance) if pathfinder.find_path(path) else float(ep.geodesic_distance)


def snap_episodes(
    habitat_sim: ModuleType, config: EnvConfig, episodes: list[Episode], scene_paths: dict[str, Path]
) -> list[Episode]:
    """``episodes`` with start and goal on habitat-lab's navmesh of their scene (``scene_paths``: scene id -> .glb).

    One renderer-less simulator is reconfigured scene by scene; episodes keep their order."""
    by_scene: dict[str, list[int]] = {}
    for i, ep in enumerate(episodes):
        by_scene.setdefault(ep.scene_id, []).append(i)
    out = list(episodes)
    sim = None
    try:
        for scene_id, indices in sorted(by_scene.items()):
            cfg = _navmesh_configuration(habitat_sim, config, scene_paths[scene_id])
            if sim is None:
                sim = habitat_sim.Simulator(cfg)
            else:
                sim.reconfigure(cfg)
            for i in indices:
                ep = episodes[i]
                where = f"episode {ep.episode_id} ({scene_id})"
                start = _snap(sim.pathfinder, ep.start_position, f"{where} start")
                goal = _snap(sim.pathfinder, ep.goal_position, f"{where} goal")
                out[i] = dataclasses.replace(
                    ep,
                    start_position=start,
                    goal_position=goal,
                    geodesic_distance=_navmesh_geodesic(habitat_sim, sim.pathfinder, start, goal, ep),
                    info={**ep.info, GEODESIC_SOURCE_KEY: "habitat-sim"},
                )
    finally:
        if sim is not None:
            sim.close()
    return out
