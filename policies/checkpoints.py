"""Encoder checkpoints in the visualpriors layout (`{'state_dict': ...}`), loaded with clear errors."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from common.errors import UserError


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint's keys or shapes do not match the module it is loaded into."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a `{'state_dict': ...}` file (or a bare state dict) onto the CPU; strips a DataParallel 'module.' prefix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder checkpoint {str(path)!r} does not exist")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f"{str(path)!r} is not an encoder checkpoint: expected {{'state_dict': {{name: tensor}}}} "
            f"(the visualpriors layout) or a bare {{name: tensor}} dict"
        )
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def describe_mismatch(module: nn.Module, state: dict[str, torch.Tensor], limit: int = 8) -> str:
    """Human-readable list of missing keys, unexpected keys and shape differences ('' when they match)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)}, expected {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]

    def listing(title: str, items: list[str]) -> str:
        more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
        return f"{title} ({len(items)}): {', '.join(items[:limit])}{more}"

    parts = [
        listing(t, i)
        for t, i in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes))
        if i
    ]
    return "; ".join(parts)


def load_encoder_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Load a checkpoint into `module`, requiring exactly the same keys and shapes; returns `module`."""
    state = read_state_dict(path)
    problem = describe_mismatch(module, state)
    if problem:
        raise CheckpointMismatchError(
            f"checkpoint {str(path)!r} does not fit {type(module).__name__}: {problem}. "
            f"Check that the checkpoint was written for this architecture (arch='{getattr(module, 'arch', '?')}')."
        )
    module.load_state_dict(state, strict=True)
    return module


def save_encoder_weights(module: nn.Module, path: str | Path) -> Path:
    """Write `module`'s weights as `{'state_dict': ...}` (the visualpriors layout); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()}}, path)
    return path


# ------------------------------------------------------------------ metadata (additive: written by pretraining)
METADATA_KEYS = ("task", "arch", "resolution")


# (resolved path, mtime, size) -> metadata: every config check reads the base's metadata, and loading a checkpoint
# for it costs 17 ms for a shipped base (a 108-cell sweep checks 108 configs), far more for an official Taskonomy file
_METADATA_CACHE: dict[tuple[str, int, int], dict] = {}


def read_checkpoint_metadata(path: str | Path) -> dict:
    """Top-level non-weight entries of a checkpoint (e.g. {'task', 'arch', 'resolution'}).

    {} for bare/visualpriors files.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder checkpoint {str(path)!r} does not exist")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _METADATA_CACHE:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or "state_dict" not in payload:
            _METADATA_CACHE[key] = {}
        else:
            _METADATA_CACHE[key] = {
                k: v for k, v in payload.items() if k != "state_dict" and not isinstance(v, (dict, torch.Tensor))
            }
    return dict(_METADATA_CACHE[key])


class ResolutionMismatchError(CheckpointMismatchError):
    """A pretrained base asked to run at another resolution than it was pretrained at; ``trained``,
    ``resolution`` and ``fix`` let the config check word the same rule as a config error."""

    def __init__(self, message: str, trained: int, resolution: int, fix: str) -> None:
        super().__init__(f"{message} ({fix})")
        self.trained, self.resolution, self.fix = trained, resolution, fix


def check_checkpoint_metadata(
    path: str | Path,
    task: str | None = None,
    arch: str | None = None,
    resolution: int | None = None,
    allow_resolution_mismatch: bool = False,
) -> dict:
    """Raise CheckpointMismatchError when the checkpoint's metadata names another task or arch than requested,
    ResolutionMismatchError when it was pretrained at another resolution than `resolution`, or ValueError
    when `resolution` is a size no encoder can take; returns the metadata.

    A base runs at the resolution it was pretrained at: at another scale its filters see other structures
    (measured: the curvature base's held-out loss relative to the zero predictor is 0.60 at its 128x128 but 0.84
    at 64x64). `allow_resolution_mismatch=True` turns the error into a warning. Checkpoints without metadata
    (official visualpriors files) pass: only what is recorded is checked.
    """
    from policies.contract import check_image_size  # local: keep this module's imports minimal

    meta = read_checkpoint_metadata(path)
    for key, wanted in (("task", task), ("arch", arch)):
        have = meta.get(key)
        if wanted is not None and have is not None and have != wanted:
            raise CheckpointMismatchError(
                f"checkpoint {str(path)!r} holds a {key} {have!r} encoder but {key} {wanted!r} was requested; "
                f"pass a {wanted!r} checkpoint (policies/weights/{{task}}_{{arch}}.pth or `scripts/pretrain_base.py "
                f"--{key} {wanted}`), or request {key} {have!r}"
            )
    if resolution is not None:
        check_image_size(int(resolution), int(resolution), f"the {meta.get('arch', arch or 'requested')} base")
        trained = meta.get("resolution")
        if trained is not None and int(trained) != int(resolution):
            message = (
                f"base {str(path)!r} was pretrained at {trained}x{trained} but the rgb observation is "
                f"{resolution}x{resolution}"
            )
            fix = (
                f"set env.resolution={trained}, or pretrain a base at {resolution} (`scripts/pretrain_base.py "
                f"pretrain.resolution={resolution} pretrain.out=PATH`, then policy.base=PATH), or accept off-scale "
                f"features with policy.allow_resolution_mismatch=true"
            )
            if not allow_resolution_mismatch:
                raise ResolutionMismatchError(message, int(trained), int(resolution), fix)
            import warnings

            warnings.warn(
                f"{message}; features may be off-scale (allowed by policy.allow_resolution_mismatch)", stacklevel=2
            )
    return meta
