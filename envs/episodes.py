"""PointNav episodes in Habitat's PointNav v1 format (``{split}/{split}.json.gz``), shared by all backends.

Habitat's world has y up and an agent with identity rotation looks along -z. The embedded backend works on
the ground plane ``(x, y)`` with heading counter-clockwise from +x; the mapping is
``habitat (X, Y, Z) = (x, floor_height, -y)`` and ``heading = yaw_about_up + pi/2``.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.atomic_io import atomic_write_bytes
from common.errors import UserError


class EpisodeFileError(UserError, ValueError):
    """An episode file that is missing, corrupt or not in PointNav v1 format."""


GEODESIC_SOURCE_KEY = "geodesic_distance_source"  # an episode info key: whose geodesic distance a file stores


@dataclass(frozen=True)
class Episode:
    """One PointNav episode: a building, a start pose and a goal point (Habitat coordinates)."""

    episode_id: str
    scene_id: str
    start_position: tuple[float, float, float]
    start_rotation: tuple[float, float, float, float]  # quaternion (x, y, z, w), rotation about +y
    goal_position: tuple[float, float, float]
    geodesic_distance: float
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def start_xy(self) -> tuple[float, float]:
        """Start position on the ground plane."""
        return habitat_to_xy(self.start_position)

    @property
    def goal_xy(self) -> tuple[float, float]:
        """Goal position on the ground plane."""
        return habitat_to_xy(self.goal_position)

    @property
    def start_heading(self) -> float:
        """Start heading on the ground plane (radians, counter-clockwise from +x)."""
        return quaternion_to_heading(self.start_rotation)

    def to_json(self) -> dict[str, Any]:
        """The PointNav v1 record of this episode."""
        return {
            "episode_id": self.episode_id,
            "scene_id": self.scene_id,
            "start_position": list(self.start_position),
            "start_rotation": list(self.start_rotation),
            "info": {**self.info, "geodesic_distance": self.geodesic_distance},
            "goals": [{"position": list(self.goal_position), "radius": None}],
            "shortest_paths": None,
            "start_room": None,
        }

    @staticmethod
    def from_json(record: dict[str, Any], where: str = "episode") -> Episode:
        """Parse one PointNav v1 record; raises EpisodeFileError naming the missing or malformed field."""
        try:
            goals = record["goals"]
            if not goals:
                raise EpisodeFileError(f"{where}: 'goals' is empty; PointNav needs one goal position")
            info = dict(record.get("info") or {})
            geo = info.pop("geodesic_distance", None)
            return Episode(
                episode_id=str(record["episode_id"]),
                scene_id=str(record["scene_id"]),
                start_position=_vec(record["start_position"], 3, f"{where}.start_position"),
                start_rotation=_vec(record["start_rotation"], 4, f"{where}.start_rotation"),
                goal_position=_vec(goals[0]["position"], 3, f"{where}.goals[0].position"),
                geodesic_distance=float(geo) if geo is not None else float("nan"),
                info=info,
            )
        except KeyError as err:
            raise EpisodeFileError(f"{where}: missing field {err}; expected Habitat PointNav v1 keys") from None
        except (TypeError, ValueError) as err:
            if isinstance(err, EpisodeFileError):
                raise
            raise EpisodeFileError(f"{where}: malformed field ({err})") from None


def _vec(value: Any, n: int, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise EpisodeFileError(f"{where}: expected a list of {n} numbers, got {value!r}")
    out = tuple(float(v) for v in value)
    if not all(math.isfinite(v) for v in out):
        raise EpisodeFileError(f"{where}: contains NaN or inf: {value!r}")
    return out


def xy_to_habitat(x: float, y: float, height: float = 0.0) -> tuple[float, float, float]:
    """Ground-plane point to Habitat coordinates."""
    return (float(x), float(height), float(-y))


def habitat_to_xy(position: Iterable[float]) -> tuple[float, float]:
    """Habitat point to the ground plane."""
    px, _, pz = position
    return (float(px), float(-pz))


def heading_to_quaternion(heading: float) -> tuple[float, float, float, float]:
    """Ground-plane heading to Habitat's rotation quaternion (x, y, z, w) about +y."""
    yaw = heading - math.pi / 2
    return (0.0, math.sin(yaw / 2), 0.0, math.cos(yaw / 2))


def quaternion_to_heading(q: Iterable[float]) -> float:
    """Habitat rotation quaternion (x, y, z, w) about +y to a ground-plane heading in (-pi, pi]."""
    _, qy, _, qw = q
    yaw = 2.0 * math.atan2(qy, qw)
    heading = yaw + math.pi / 2
    return math.atan2(math.sin(heading), math.cos(heading))


def save_episodes(path: str | os.PathLike, episodes: Iterable[Episode], extra: dict[str, Any] | None = None) -> Path:
    """Write episodes as PointNav v1 ``.json.gz`` atomically (``extra`` keys added to every record, e.g. habitat-lab's
    ``scene_dataset_config``); returns the path."""
    payload = {"episodes": [{**ep.to_json(), **(extra or {})} for ep in episodes]}
    data = gzip.compress(json.dumps(payload).encode("utf-8"), mtime=0)
    atomic_write_bytes(path, data)
    return Path(path)


def load_episodes(path: str | os.PathLike) -> list[Episode]:
    """Read a PointNav v1 ``.json.gz`` (or plain ``.json``) episode file with clear errors."""
    path = Path(path)
    if not path.exists():
        raise EpisodeFileError(
            f"episode file {path} does not exist; generate it (scripts/make_episodes.py) or fix the path"
        )
    try:
        raw = path.read_bytes()
    except OSError as err:  # permissions, a folder, an I/O error: the file may be fine, so never advise deleting it
        raise EpisodeFileError(
            "episode file",
            f"{path} cannot be read ({err.strerror or err})",
            "fix its permissions, or point the config at a readable copy",
        ) from None
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        payload = json.loads(text)
    except (OSError, EOFError, gzip.BadGzipFile, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise EpisodeFileError(
            "episode file",
            f"{path} is corrupt or truncated ({' '.join(str(err).split())})",
            "restore it from where it came from, or write a new set with scripts/make_episodes.py",
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("episodes"), list):
        raise EpisodeFileError(f"episode file {path} has no 'episodes' list; expected Habitat PointNav v1 format")
    return [Episode.from_json(rec, where=f"{path}: episode #{i}") for i, rec in enumerate(payload["episodes"])]


SCENE_SUFFIXES = (".basis.glb", ".glb", ".ply", ".obj")  # Habitat scene files


def scene_name(scene_id: str) -> str:
    """The building name of a scene id: 'data/gibson/Foo.glb' -> 'Foo' (Habitat paths); a plain name unchanged."""
    base = scene_id.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in SCENE_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def select_episodes(episodes: Sequence[Episode], per_building: int | None) -> list[Episode]:
    """The first ``per_building`` episodes of each building, buildings in order of first appearance."""
    if per_building is None:
        return list(episodes)
    taken: dict[str, int] = {}
    chosen: list[Episode] = []
    for episode in episodes:
        count = taken.get(episode.scene_id, 0)
        if count < per_building:
            chosen.append(episode)
            taken[episode.scene_id] = count + 1
    return chosen
