"""The habitat backend (habitat-sim behind envs.backend.Backend) and Habitat PointNav v1 episode sets.

Importing this package never imports habitat_sim: ``HabitatBackend(...)`` does, and raises
``BackendUnavailableError`` with install steps when it is missing, so the toolkit works without Habitat.
"""

from envs.habitat.availability import BackendUnavailableError, habitat_sim_available, require_habitat_sim
from envs.habitat.backend import HabitatBackend
from envs.habitat.episodes import (
    SceneNotFoundError,
    habitat_split_name,
    load_habitat_episodes,
    resolve_scene_path,
    scene_name,
)

__all__ = [
    "BackendUnavailableError",
    "HabitatBackend",
    "SceneNotFoundError",
    "habitat_sim_available",
    "habitat_split_name",
    "load_habitat_episodes",
    "require_habitat_sim",
    "resolve_scene_path",
    "scene_name",
]
