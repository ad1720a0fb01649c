"""Ends a local Ray's processes when the sweep driver that started them dies, however it dies.

``ray.shutdown()`` stops them when the driver exits normally, but a killed driver (SIGKILL, the OOM killer)
leaves Ray's dashboard and runtime-env agents (and with them the raylet and its workers) running.
``start_reaper`` spawns this file as a small watcher in its own session: while the driver lives it notes the
driver's descendants every second; once the driver is gone it sends SIGTERM to each noted process that still
runs (the same process: pid and start time), then SIGKILL to any left after a few seconds. Linux only (it
reads /proc, as the sweep's PR_SET_PDEATHSIG does); the standard library only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 1.0
GRACE_SECONDS = 5.0


def start_reaper(driver_pid: int) -> subprocess.Popen | None:
    """Start the watcher for ``driver_pid`` (detached: a signal to the driver's process group spares it);
    None where there is no /proc."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen(
        [sys.executable, __file__, str(driver_pid)],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, start time in clock ticks, state) of a process from /proc/<pid>/stat; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (command)": state ppid ... starttime (field 22)
    return int(fields[1]), int(fields[19]), fields[0]


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid`` as {pid: start time}."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _stat(int(entry.name))) is not None:
            parents.setdefault(info[0], []).append(int(entry.name))
            starts[int(entry.name)] = info[1]
    found: dict[int, int] = {}
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        if child not in found:
            found[child] = starts[child]
            todo.extend(parents.get(child, []))
    return found


def _alive(pid: int, start: int) -> bool:
    """True while the process ``pid`` that started at ``start`` runs (a reused pid has another start time)."""
    info = _stat(pid)
    return info is not None and info[1] == start and info[2] != "Z"


def _signal(noted: dict[int, int], sig: int) -> None:
    for pid, start in noted.items():
        if _alive(pid, start):
            try:
                os.kill(pid, sig)
            except OSError:
                pass


def watch(driver_pid: int) -> list[int]:
    """Note ``driver_pid``'s descendants until it dies, then end those still running; returns their pids."""
    driver = _stat(driver_pid)
    if driver is None:
        return []
    noted: dict[int, int] = {}
    while _alive(driver_pid, driver[1]):
        noted.update({pid: start for pid, start in descendants(driver_pid).items() if pid != os.getpid()})
        time.sleep(POLL_SECONDS)
    left = {pid: start for pid, start in noted.items() if _alive(pid, start)}
    _signal(left, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and any(_alive(pid, start) for pid, start in left.items()):
        time.sleep(0.2)
    _signal(left, signal.SIGKILL)
    return sorted(left)


if __name__ == "__main__":
    watch(int(sys.argv[1]))
