"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename over the target.

A crash or SIGKILL mid-write leaves the previous file intact, never a half-written one; `atomic_paths` does
the same for a set of files that belong together (a BC epoch's checkpoints and trainer state). Shared by every
part of the toolkit that writes results, episode sets, trajectories or checkpoints. Files get the mode a
plain ``open`` would give them (0666 less the umask, usually 0644). A folder that cannot be written is a
``NotWritableError`` (a user error) naming it, not a PermissionError traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from common.errors import NotWritableError

TEMP_SUFFIX = ".tmp"  # temp files are hidden: .<target name>.<random>.tmp
# what a killed writer can leave: .<name>.<random>.tmp, and .<name>.<random>.zip (SB3's save appends .zip to a
# temp name without a suffix)
STALE_TEMP = re.compile(r"^\..+(\.tmp|\.[A-Za-z0-9_]{6,}\.zip)$")
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def not_writable(path: str | os.PathLike, err: OSError, field: str = "output folder") -> Exception:
    """The user error for an OSError from writing at ``path`` when it is a permission or read-only problem;
    ``err`` itself otherwise (a full disk or a bug is not the user's input)."""
    if err.errno not in NOT_WRITABLE:
        return err
    return NotWritableError(
        field,
        f"cannot write {path} ({os.strerror(err.errno)})",
        "choose a folder you can write to, or fix its permissions",
    )


def check_writable(folder: str | os.PathLike, field: str = "output folder") -> None:
    """A NotWritableError naming ``field`` unless ``folder`` (or, when it does not exist yet, its nearest
    existing parent) can be written by this process; creates nothing, so a command can check before working."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise not_writable(folder, PermissionError(errno.EACCES, os.strerror(errno.EACCES)), field)


def file_mode() -> int:
    """0666 less this process's umask: the mode ``open`` gives a new file (mkstemp would give 0600)."""
    try:
        with open("/proc/self/status") as status:  # reading the umask here does not change it (thread-safe)
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _temp_beside(target: Path) -> Iterator[Path]:
    """A new empty temp file in ``target``'s folder (made if absent), removed on exit unless renamed by then."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    except OSError as err:
        raise not_writable(target.parent, err) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _sync(tmp: Path) -> None:
    """Flush a written temp file to the disk and give it the mode ``open`` would have given it."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
        os.fchmod(handle.fileno(), file_mode())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically, on error it is removed."""
    target = Path(path)
    with _temp_beside(target) as tmp:
        yield tmp
        _sync(tmp)
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield one temporary path per target, to write a set of files that belong together. Only when all are
    written and synced do they replace their targets, in the order given (put the file that records the set
    last). SIGINT and SIGTERM are held from the first write to the last rename, then delivered: an interrupt
    inside a writer (torch.save's zip writer turns it into a RuntimeError) would hide what stopped the run. On an
    error every temp file is removed and every target stays as it was. (Only a SIGKILL between two renames can
    split the set.)"""
    targets = [Path(p) for p in paths]
    with signals_held(), contextlib.ExitStack() as stack:
        temps = [stack.enter_context(_temp_beside(target)) for target in targets]
        yield temps
        for tmp in temps:
            _sync(tmp)
        for tmp, target in zip(temps, targets, strict=True):
            os.replace(tmp, target)


@contextlib.contextmanager
def signals_held(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold these signals' Python handlers (Ctrl-C's KeyboardInterrupt, the trainers' SIGTERM) until the block
    ends, then deliver each one that arrived, so a few quick steps run whole. Python runs handlers only in the
    main thread, so elsewhere this holds nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    previous = {}
    for signum in signums:
        # None: a handler set outside Python, which this cannot restore; SIG_IGN: an ignored signal stays ignored
        if signal.getsignal(signum) not in (None, signal.SIG_IGN):
            previous[signum] = signal.signal(signum, lambda number, frame: arrived.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


@contextlib.contextmanager
def exclusive(lock_path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if absent), waiting while another process holds it:
    for shared inputs that several processes may make at once (a trajectory pool, a feature cache). The kernel
    drops the lock when its holder dies, however it dies."""
    import fcntl

    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files a killed writer left in ``folder`` (``.<name>.<random>.tmp``, and the
    ``.<name>.<random>.zip``: SB3's save to a temp name without a suffix); returns them.

    Call it only when no other process writes there (a resumed run holds the run folder's lock)."""
    stale = [p for p in Path(folder).iterdir() if STALE_TEMP.match(p.name) and p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks (integrity checks of shards and caches)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
