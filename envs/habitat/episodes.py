"""PointNav v1 episode sets as Habitat ships them, and where their scenes live on disk.

Two layouts exist (habitat-lab's ``PointNavDatasetV1`` reads both):
- everything in ``{data_path}/{split}/{split}.json.gz`` (what this toolkit writes);
- Gibson/HM3D/MP3D releases: ``{split}.json.gz`` holds an empty ``episodes`` list and the episodes of each
  scene sit in ``{split}/content/{scene}.json.gz``.
Scene ids in those files look like ``gibson/Allensville.glb`` or ``data/scene_datasets/gibson/...``; they are
resolved against ``env.habitat_scenes_dir`` (the folder habitat-lab calls ``data/scene_datasets``).
Only the default ``content/{scene}.json.gz`` template is supported (a custom ``content_scenes_path`` in the
top-level file is not read).
"""

from __future__ import annotations

import os
from pathlib import Path

from common.errors import UserError
from envs.config import ConfigError, EnvConfig
from envs.episodes import Episode, EpisodeFileError, load_episodes, scene_name

DEFAULT_SCENE_PREFIX = "data/scene_datasets/"  # habitat-lab strips this before joining with scenes_dir
SPLIT_ALIASES = {"heldout": "val"}  # the toolkit's held-out split is Habitat's validation split


class SceneNotFoundError(UserError, FileNotFoundError):
    """A scene file named by an episode that is not under ``env.habitat_scenes_dir``."""


def habitat_split_name(split: str) -> str:
    """The Habitat split folder for a toolkit split (``heldout`` -> ``val``; others unchanged)."""
    return SPLIT_ALIASES.get(split, split)


def episode_file(data_path: str, split: str) -> Path:
    """The top-level file of a split; ``data_path`` is a folder or a habitat-style ``.../{split}/{split}.json.gz``."""
    if "{split}" in data_path:
        return Path(data_path.format(split=split))
    return Path(data_path) / split / f"{split}.json.gz"


def resolve_scene_path(scene_id: str, scenes_dir: str | os.PathLike | None) -> Path:
    """The scene file of ``scene_id`` on disk, or SceneNotFoundError naming the path tried and the fix."""
    if os.path.isabs(scene_id) and os.path.exists(scene_id):
        return Path(scene_id)
    relative = scene_id[len(DEFAULT_SCENE_PREFIX) :] if scene_id.startswith(DEFAULT_SCENE_PREFIX) else scene_id
    if scenes_dir is None:
        raise SceneNotFoundError(
            f"scene {scene_id!r} is a relative path and env.habitat_scenes_dir is not set; pass --scenes-dir "
            f"(or env.habitat_scenes_dir=DIR; the folder that holds {relative.split('/')[0]!r}/, "
            "usually data/scene_datasets)"
        )
    path = Path(scenes_dir) / relative
    if not path.exists():
        raise SceneNotFoundError(
            f"scene file {path} (scene_id {scene_id!r}) does not exist; download the scene dataset (see "
            f"docs/habitat.md) and point --scenes-dir / env.habitat_scenes_dir at the folder that holds "
            f"{relative.split('/')[0]!r}/"
        )
    return path


def load_habitat_episodes(config: EnvConfig, split: str, check_scenes: bool = True) -> list[Episode]:
    """All episodes of ``split`` under ``config.habitat_data_path`` (both layouts), restricted to
    ``config.buildings`` when set (scene names, which are also the ``content/`` file names); with ``check_scenes``
    every scene must exist under ``habitat_scenes_dir``, so a missing download fails here rather than when the N-th
    simulator loads it."""
    if not config.habitat_data_path:
        raise ConfigError(
            "env.habitat_data_path is not set; pass --data-path (or env.habitat_data_path=DIR) with the PointNav v1 "
            "folder that holds {split}/{split}.json.gz (e.g. data/datasets/pointnav/gibson/v1)"
        )
    split = habitat_split_name(split)
    top = episode_file(config.habitat_data_path, split)
    if not top.exists():
        available = (
            sorted(p.name for p in top.parent.parent.iterdir() if p.is_dir()) if top.parent.parent.is_dir() else []
        )
        raise EpisodeFileError(
            f"episode file {top} does not exist (split {split!r}; splits found: {available or 'none'}); "
            f"check --data-path / env.habitat_data_path or download the PointNav v1 episodes (see docs/habitat.md)"
        )
    buildings = set(config.buildings) if config.buildings else None
    episodes = load_episodes(top)
    if buildings is not None:  # top-level episodes by scene name; content files below by file name
        episodes = [ep for ep in episodes if scene_name(ep.scene_id) in buildings]
    content = top.parent / "content"
    if content.is_dir():
        episodes += _load_content(content, buildings)
    if not episodes:
        which = f" for buildings {sorted(buildings)}" if buildings else ""
        raise EpisodeFileError(f"no episodes in {top} (or {content}/){which}; check the split and env.buildings")
    if check_scenes:
        for scene_id in sorted({ep.scene_id for ep in episodes}):
            resolve_scene_path(scene_id, config.habitat_scenes_dir)
    return episodes


def _load_content(content: Path, buildings: set[str] | None) -> list[Episode]:
    """Episodes of the per-scene files ``content/{scene}.json.gz`` (only the named buildings when given)."""
    files = {p.name[: -len(".json.gz")]: p for p in content.glob("*.json.gz")}
    if buildings is not None:
        missing = sorted(buildings - set(files))
        if missing:
            raise EpisodeFileError(
                f"buildings {missing} have no episode file in {content}; available: {sorted(files)[:20]}"
                f"{' ...' if len(files) > 20 else ''}"
            )
        files = {name: p for name, p in files.items() if name in buildings}
    episodes: list[Episode] = []
    for name in sorted(files):
        episodes += load_episodes(files[name])
    return episodes


def check_habitat_data(config: EnvConfig) -> None:
    """Make ``habitat_data_path`` and ``habitat_scenes_dir`` absolute (a run's config then works from any folder)
    and check that the episode files of the run's splits and every scene they name exist, before anything is
    written; raises ConfigError, EpisodeFileError or SceneNotFoundError naming the path and the flag."""
    for name in ("habitat_data_path", "habitat_scenes_dir"):
        value = getattr(config, name)
        if value:
            setattr(config, name, os.path.abspath(os.path.expanduser(value)))
    for split in sorted({config.split, "heldout"}):
        load_habitat_episodes(config, split, check_scenes=True)
