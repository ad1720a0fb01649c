"""Feature cache for behaviour cloning with a frozen base (methods `features`, `sidetune`).

A frozen base maps the same frame to the same features in every epoch, so BC computes them once per stored
frame and keeps them in a memory-mapped fp16 file (``<cache_root>/<key>/features.npy``, ``meta.json``
written last, so a crash never leaves a cache that looks complete). The key hashes the base's weights, the
pool's shard checksums, the selected steps (N, auto-stop) and the render settings, so a stale cache is
never reused. Epochs then read features instead of rendering frames and running the base; the policy
consumes them through the extractor's ``base_features`` input (`policies.extractor.BASE_FEATURES_KEY`).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.trainers.bc_data import ObservationBuilder
from common.atomic_io import atomic_path, atomic_write_text, exclusive, file_sha256, not_writable
from common.errors import UserError
from policies.freeze import unwrap

CACHE_VERSION = 1
BUILD_LOCK = ".build.lock"  # held (flock) while a process computes the cache


class FeatureCacheError(UserError, ValueError):
    """A cache folder that is damaged or does not match its key; the message names the folder to delete."""


def module_digest(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes, bytes): identifies frozen weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """fp16 base features ``[S, 8, h, w]`` of every stored step (one frame each) plus those of the all-zero
    frame that frame stacking shows before an episode starts."""

    def __init__(self, folder: Path, features: np.ndarray, zero_features: np.ndarray, build_seconds: float) -> None:
        self.folder, self.features, self.zero_features, self.build_seconds = (
            folder,
            features,
            zero_features,
            build_seconds,
        )

    @classmethod
    def build_or_open(
        cls,
        base: nn.Module,
        scaler: nn.Module,
        builder: ObservationBuilder,
        cache_root: str | Path,
        identity: dict[str, Any],
        batch_size: int = 256,
        device: str = "cpu",
        progress: bool = True,
    ) -> FeatureCache:
        """Open the cache for (base weights, ``identity``) under ``cache_root``, computing it if absent.

        ``base`` is the frozen base (eval mode; a `policies.freeze.Frozen` runs its fast inference copy, and its
        weights are what the key hashes), ``scaler`` the extractor's uint8 -> [-1, 1] mapping, and
        ``identity`` whatever else decides the frames (pool checksums, N, auto-stop, render settings)."""
        key_doc = {"version": CACHE_VERSION, "base": module_digest(unwrap(base)), **identity}
        key = hashlib.sha256(json.dumps(key_doc, sort_keys=True, default=str).encode()).hexdigest()[:20]
        folder = Path(cache_root) / key
        meta_path, feat_path = folder / "meta.json", folder / "features.npy"
        if meta_path.is_file():
            return cls._open(folder, meta_path, feat_path, key_doc)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise not_writable(folder, err, "bc.cache_dir") from None
        with exclusive(folder / BUILD_LOCK):  # two cells needing one cache: the second waits, then opens it
            if meta_path.is_file():
                return cls._open(folder, meta_path, feat_path, key_doc)
            return cls._build(base, scaler, builder, folder, key_doc, batch_size, device, progress)

    @classmethod
    def _build(
        cls,
        base: nn.Module,
        scaler: nn.Module,
        builder: ObservationBuilder,
        folder: Path,
        key_doc: dict[str, Any],
        batch_size: int,
        device: str,
        progress: bool,
    ) -> FeatureCache:
        """Compute and write the cache (build_or_open, under the folder's lock)."""
        meta_path, feat_path = folder / "meta.json", folder / "features.npy"
        start = time.perf_counter()
        steps = builder.data.num_steps
        base = base.to(device).eval()
        with torch.no_grad():
            probe = base(
                scaler(torch.zeros(1, 3, builder.env_cfg.resolution, builder.env_cfg.resolution, device=device))
            )
        shape = (steps, *probe.shape[1:])
        bar = _bar(steps, progress, f"feature cache {folder.name}")
        with atomic_path(feat_path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
            for lo in range(0, steps, batch_size):
                idx = np.arange(lo, min(steps, lo + batch_size))
                frames = torch.from_numpy(builder.rgb_frames(idx)).to(device).float()
                with torch.no_grad():
                    out[lo : lo + len(idx)] = base(scaler(frames)).cpu().numpy().astype(np.float16)
                bar.update(len(idx))
            out.flush()
            del out
        bar.close()
        zero = probe[0].cpu().numpy().astype(np.float16)
        meta = {
            "key": key_doc,
            "shape": list(shape),
            "zero_features": zero.tolist(),
            "sha256": file_sha256(feat_path),
            "build_seconds": time.perf_counter() - start,
        }
        atomic_write_text(meta_path, json.dumps(meta))
        return cls._open(folder, meta_path, feat_path, key_doc)

    @classmethod
    def _open(cls, folder: Path, meta_path: Path, feat_path: Path, key_doc: dict[str, Any]) -> FeatureCache:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise FeatureCacheError(
                f"feature cache {folder} is damaged ({err}); delete the folder to rebuild it"
            ) from None
        if json.loads(json.dumps(key_doc, default=str)) != meta.get("key"):
            raise FeatureCacheError(
                f"feature cache {folder} was made for other data or weights; delete the folder to rebuild it"
            )
        if not feat_path.is_file() or file_sha256(feat_path) != meta["sha256"]:
            raise FeatureCacheError(
                f"feature cache {feat_path} is missing, corrupt or truncated; delete {folder} to rebuild it"
            )
        features = np.load(feat_path, mmap_mode="r")
        if list(features.shape) != meta["shape"]:
            raise FeatureCacheError(
                f"feature cache {feat_path} has shape {features.shape}, not {meta['shape']}; delete {folder}"
            )
        zero = np.asarray(meta["zero_features"], np.float16)
        return cls(folder, features, zero, float(meta.get("build_seconds", 0.0)))

    def lookup(self, source: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Stacked features ``float32[B, 8k, h, w]`` for stack slots ``source [B, k]`` (steps, oldest first);
        slots with ``valid`` False get the zero frame's features, as the env's zero-padded stack would."""
        b, k = source.shape
        rows = np.asarray(self.features[np.sort(np.unique(source.reshape(-1)))], np.float32)
        order = np.searchsorted(np.sort(np.unique(source.reshape(-1))), source.reshape(-1))
        flat = rows[order]
        flat[~valid.reshape(-1)] = self.zero_features.astype(np.float32)
        return flat.reshape(b, k * flat.shape[1], *flat.shape[2:])

    @property
    def nbytes(self) -> int:
        """Size of the feature file's data in bytes."""
        return int(self.features.nbytes)


def _bar(total: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar (or a silent stand-in)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not enabled, leave=False)
