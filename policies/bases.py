"""Registry of base encoders: build an architecture, load named or local weights."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from agents.pretraining.tasks import pretrain_task_names
from common.errors import BadInputError, MissingFileError
from policies.base_compact import CompactEncoder
from policies.base_taskonomy import OFFICIAL_FILES, OFFICIAL_URL_TEMPLATE, TaskonomyEncoder
from policies.checkpoints import check_checkpoint_metadata, load_encoder_weights

ARCHITECTURES: dict[str, type[nn.Module]] = {"taskonomy": TaskonomyEncoder, "compact": CompactEncoder}
ARCH_ALIASES = {"resnet50": "taskonomy", "taskonomy_resnet50": "taskonomy"}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def pretrained_base_names() -> tuple[str, ...]:
    """The bases named by their pretraining task (policies/weights/{task}_{arch}.pth): the registered tasks of
    agents.pretraining.tasks, the one list of them."""
    return pretrain_task_names()


def canonical_arch(arch: str) -> str:
    """'taskonomy' or 'compact' (aliases accepted); ValueError naming the choices otherwise."""
    name = ARCH_ALIASES.get(arch, arch)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown base architecture {arch!r}; choose one of {sorted(ARCHITECTURES)} (or 'resnet50')")
    return name


def build_base(arch: str) -> nn.Module:
    """An untrained encoder of the given architecture (PyTorch default initialisation)."""
    return ARCHITECTURES[canonical_arch(arch)]()


def shipped_weights_path(task: str, arch: str) -> Path:
    """Where the shipped weights for `task` on `arch` live: policies/weights/{task}_{arch}.pth."""
    return WEIGHTS_DIR / f"{task}_{canonical_arch(arch)}.pth"


def resolve_weights(name_or_path: str, arch: str, download: bool = False) -> Path | None:
    """Path of the weights for a pretrained base's name, a local file, or None for 'random'."""
    if name_or_path == "random":
        return None
    if name_or_path in pretrained_base_names():
        path = shipped_weights_path(name_or_path, arch)
        if not path.is_file() and canonical_arch(arch) == "taskonomy" and name_or_path in OFFICIAL_FILES:
            return official_weights(name_or_path, download)
        if not path.is_file():
            raise MissingFileError(
                f"no shipped weights for base {name_or_path!r} on arch {canonical_arch(arch)!r}: "
                f"{path} is missing. "
                f"Make them with `python scripts/pretrain_base.py --task {name_or_path} "
                f"--arch {canonical_arch(arch)}`, "
                f"or pass a local checkpoint path "
                f"(e.g. a visualpriors {name_or_path}_encoder.dat for arch 'taskonomy'), "
                f"or 'random' for an untrained base"
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise MissingFileError(
            f"base {name_or_path!r} is neither a known name ({', '.join(pretrained_base_names())}, random) "
            "nor an existing file"
        )
    return path


def load_base(
    name_or_path: str,
    arch: str = "compact",
    task: str | None = None,
    resolution: int | None = None,
    allow_resolution_mismatch: bool = False,
) -> nn.Module:
    """An encoder of `arch` with weights from a shipped name, a local checkpoint, or 'random'.

    Checkpoints written by `scripts/pretrain_base.py` record their task, arch and resolution: a shipped name
    must hold that task, `task` (if given) is checked for a local file, the arch always, and `resolution` (if
    given) must be a size the encoder takes and the one it was pretrained at (unless `allow_resolution_mismatch`;
    see `check_checkpoint_metadata`). The result is not frozen; methods decide (see `policies.freeze.Frozen`)."""
    base = build_base(arch)
    path = resolve_weights(name_or_path, arch, download=True)
    if path is not None:
        wanted_task = name_or_path if name_or_path in pretrained_base_names() else task
        check_checkpoint_metadata(
            path,
            task=wanted_task,
            arch=canonical_arch(arch),
            resolution=resolution,
            allow_resolution_mismatch=allow_resolution_mismatch,
        )
        load_encoder_weights(base, path)
    return base


def official_weights(task: str, download: bool = True) -> Path:
    """The official visualpriors encoder for `task`: from torch's hub cache (torch.hub.get_dir()/checkpoints),
    else (when `download`) downloaded from its published address into that cache; the file is kept only if
    its SHA-256 is the one in its name. Config checks look without downloading; loading the base downloads."""
    import urllib.error

    import torch.hub

    filename = OFFICIAL_FILES[task]
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if path.is_file():
        return path
    url = OFFICIAL_URL_TEMPLATE.format(filename=filename)
    if not download:
        raise MissingFileError(
            f"the official visualpriors {task} encoder is not in torch's hub cache ({path}); "
            f"loading the base downloads it from {url}"
        )
    sha256 = filename.rsplit("-", 1)[1].split(".")[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # writes a temporary file and moves it into the cache only when the hash matches
        torch.hub.download_url_to_file(url, str(path), hash_prefix=sha256, progress=False)
    except (urllib.error.URLError, OSError) as err:
        raise MissingFileError(
            f"the official visualpriors {task} encoder is not in torch's hub cache ({path}) and could not be "
            f"downloaded from {url} ({err}); download it where there is a network, copy it to {path}, or pass a "
            f"local checkpoint path as the base"
        ) from None
    except RuntimeError as err:
        raise BadInputError(f"{url} does not have the published SHA-256 {sha256} ({err}); nothing was kept") from None
    return path
