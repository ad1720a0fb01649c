"""Run many ``scripts/<name>.py`` invocations as forks of one process that imported the toolkit once.

A fresh interpreter per bad-input case of tests/test_cli_errors.py spends about 4 s importing torch before it
reads its config. Here one helper process imports the scripts' modules (no torch op runs, so no
thread pool exists to break in a fork), then forks a child per invocation; the child changes into its folder,
points fds 1 and 2 at files and runs the script file as ``__main__`` with its argv, exactly as ``python
scripts/<name>.py`` would, and exits with the code Python would give it. Real interpreter starts stay covered by
the tests that run the scripts as plain subprocesses.

Parent side: :func:`run_scripts`. Helper side: ``python tests/script_forks.py <module> ...`` (modules to preload),
reading one JSON request per line on stdin and answering one JSON line per finished child.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ScriptRun:
    """One invocation: ``python scripts/<script>.py *args`` in ``cwd``."""

    script: str
    args: list[str]
    cwd: Path


def run_scripts(
    runs: list[ScriptRun], preload: list[str], workers: int = 4, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess]:
    """Run ``runs`` (``workers`` at a time) as forks of one helper that imported ``preload``; results in order."""
    with tempfile.TemporaryDirectory(prefix="script-forks-") as folder:
        logs = [(Path(folder) / f"{i}.out", Path(folder) / f"{i}.err") for i in range(len(runs))]
        return _run_in_helper(runs, preload, workers, env, logs)


def _run_in_helper(
    runs: list[ScriptRun], preload: list[str], workers: int, env: dict[str, str] | None, logs: list[tuple[Path, Path]]
) -> list[subprocess.CompletedProcess]:
    helper = subprocess.Popen(
        [sys.executable, __file__, str(workers), *preload],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    for index, (run, (out, err)) in enumerate(zip(runs, logs, strict=True)):
        script = str(ROOT / "scripts" / f"{run.script}.py")
        request = {"id": index, "argv": [script, *run.args], "cwd": str(run.cwd), "out": str(out), "err": str(err)}
        helper.stdin.write(json.dumps(request) + "\n")
    helper.stdin.close()
    codes = {}
    for line in helper.stdout:
        answer = json.loads(line)
        codes[answer["id"]] = answer["code"]
    helper.wait(timeout=60)
    assert helper.returncode == 0 and len(codes) == len(runs), f"the fork helper failed ({helper.returncode})"
    results = []
    for index, (run, (out, err)) in enumerate(zip(runs, logs, strict=True)):
        results.append(
            subprocess.CompletedProcess(
                [run.script, *run.args], codes[index], out.read_text(errors="replace"), err.read_text(errors="replace")
            )
        )
    return results


def _child(request: dict, search_path: list[str]) -> int:
    """In the fork: run one script as ``__main__`` and return the exit code Python would have given it."""
    import atexit
    import runpy
    import traceback

    os.chdir(request["cwd"])
    for fd, log in ((1, request["out"]), (2, request["err"])):
        target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = list(request["argv"])
    sys.path[:] = [str(Path(request["argv"][0]).parent), *search_path]  # what `python scripts/x.py` starts with
    code = 0
    try:
        runpy.run_path(request["argv"][0], run_name="__main__")
    except SystemExit as exit_:
        if exit_.code is None:
            code = 0
        elif isinstance(exit_.code, int):
            code = exit_.code
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()  # what a normal interpreter exit runs (logging's flush, temp-file clean-ups)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _serve(workers: int, preload: list[str]) -> None:
    """Helper main loop: preload, then fork per request, ``workers`` children at a time."""
    path = sys.path[1:]  # without this file's folder, which `python tests/script_forks.py` put first
    sys.path.insert(0, str(ROOT))
    for module in preload:
        importlib.import_module(module)
    requests = [json.loads(line) for line in sys.stdin]
    running: dict[int, int] = {}

    def reap_one() -> None:
        pid, status = os.wait()
        print(json.dumps({"id": running.pop(pid), "code": os.waitstatus_to_exitcode(status)}), flush=True)

    for request in requests:
        while len(running) >= workers:
            reap_one()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request, path)
            finally:
                os._exit(code)
        running[pid] = request["id"]
    while running:
        reap_one()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])
