"""What a checkpoint file is, read without building its model: its content hash, the frames it was trained on and the
policy config it was built with, so an evaluation can record what it scored and a run's config can be checked
against a checkpoint before anything is loaded."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from common.atomic_io import file_sha256
from policies.methods import PolicyConfig

CHECKED_POLICY_FIELDS = ("method", "base_arch", "side", "merge", "blind", "features_dim")  # what shapes the network


def _saved_data(path: Path) -> dict[str, Any] | None:
    """The ``data`` member of an SB3 zip (hyperparameters, ``num_timesteps``, ``policy_kwargs``); None when the
    file is not such a zip or its objects cannot be read here."""
    from stable_baselines3.common.save_util import json_to_data

    try:
        with zipfile.ZipFile(path) as archive:
            return json_to_data(archive.read("data").decode())
    except Exception:  # noqa: BLE001 - not an SB3 zip: load_model says why when it is loaded
        return None


def checkpoint_record(path: str | Path) -> dict[str, Any]:
    """``{"checkpoint_name", "checkpoint_frames", "checkpoint_sha256"}`` of a checkpoint file (frames None when
    the zip does not say)."""
    path = Path(path)
    data = _saved_data(path) or {}
    frames = data.get("num_timesteps")
    return {
        "checkpoint_name": path.name,
        "checkpoint_frames": int(frames) if isinstance(frames, int) else None,
        "checkpoint_sha256": file_sha256(path),
    }


def checkpoint_policy(path: str | Path) -> PolicyConfig | None:
    """The PolicyConfig a checkpoint's extractor was built with; None when the file does not hold one."""
    data = _saved_data(Path(path)) or {}
    config = ((data.get("policy_kwargs") or {}).get("features_extractor_kwargs") or {}).get("config")
    return config if isinstance(config, PolicyConfig) else None


def policy_differences(saved: PolicyConfig, wanted: PolicyConfig) -> list[tuple[str, Any, Any]]:
    """``(field, checkpoint's value, config's value)`` for each network-shaping field that differs."""
    return [
        (name, getattr(saved, name, None), getattr(wanted, name, None))
        for name in CHECKED_POLICY_FIELDS
        if getattr(saved, name, None) != getattr(wanted, name, None)
    ]
