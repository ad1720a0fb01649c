"""scripts/device_check.sh on a bare machine without CUDA: a Python that has torch and the rest of the toolkit's
dependencies but not gymnasium, stable-baselines3 or omegaconf (what the GPU machines lack) gets them from the
wheelhouse of scripts/device_wheels.sh with no package index, and every CUDA step then says "no CUDA device".

The bare Python is a venv whose site-packages sees this environment's packages through a folder of links to
them, minus the wheelhouse's packages and the toolkit's own install: the same torch, numpy and numba, in ~1 s,
no index needed. Building the wheelhouse needs PyPI (about 10 s); offline, the tests that need it skip and say so.
About 60 s in all on a busy 2-core machine (most of it importing torch in the script's subprocesses)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "device_check.sh"
CUDA_STEPS = ["ppo_gpu_preset", "ppo_cpu_preset_device_resident", "cuda_tests", "bench_env", "bench_encoders"]
# what a GPU machine lacks (the wheelhouse's packages) and the toolkit's own editable install
HIDDEN = (
    "gymnasium",
    "stable_baselines3",
    "omegaconf",
    "antlr4",
    "farama_notifications",
    "__editable__",
    "sidetune_nav",
)


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """scripts/device_wheels.sh's folder, built from PyPI into a temporary folder (skips when offline)."""
    folder = tmp_path_factory.mktemp("wheels") / "device_wheels"
    env = {**os.environ, "WHEELS_DIR": str(folder), "PYTHON": sys.executable}
    done = subprocess.run(["bash", "scripts/device_wheels.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode == 3:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.name.split("-")[0].lower() for p in folder.glob("*.whl"))
    assert names == ["antlr4_python3_runtime", "farama_notifications", "gymnasium", "omegaconf", "stable_baselines3"]
    assert not list(folder.glob("torch*")), "the GPU machine's own torch must never be replaced"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 4 * 2**20  # travels within the 64 MiB beside the code
    return folder


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A venv's python that has this environment's torch, numpy, numba, pip, ... but not the wheelhouse's packages."""
    root = tmp_path_factory.mktemp("bare")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    overlay = root / "overlay"
    overlay.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(HIDDEN) and entry.suffix != ".pth":
            (overlay / entry.name).symlink_to(entry)
    (Path(site) / "environment.pth").write_text(f"{overlay}\n")
    return python


def run_check(python: Path | str, tmp_path: Path, wheels: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": str(python), "WHEELS_DIR": str(wheels), "OUT": str(tmp_path / "out")}
    env["TMPDIR"] = str(tmp_path)
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_bare_python_lacks_what_the_wheelhouse_brings(bare_python):
    probe = "import torch, numpy, numba, yaml, cloudpickle, pip, importlib.util as u; print(u.find_spec('gymnasium'))"
    done = subprocess.run([str(bare_python), "-c", probe], capture_output=True, text=True, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


def test_set_up_from_the_wheelhouse_then_every_cuda_step_says_no_cuda_device(bare_python, wheelhouse, tmp_path):
    done = run_check(bare_python, tmp_path, wheelhouse)
    assert done.returncode == 0, done.stdout + done.stderr
    setup_log = (tmp_path / "out" / "setup.log").read_text()
    assert f"installing from {wheelhouse} (--no-index --no-deps)" in setup_log
    installed = list(tmp_path.glob("sidetune-device.*/site/gymnasium"))
    assert installed, "the wheels go to a folder under TMPDIR, not into the interpreter's environment"
    # the versions it runs with: the interpreter's own torch, the wheelhouse's packages
    import torch

    assert f"torch {torch.__version__}" in done.stdout
    assert "gymnasium 1.4.0, stable-baselines3 2.9.2, omegaconf 2.3.1" in done.stdout
    for name in CUDA_STEPS:
        lines = [line for line in done.stdout.splitlines() if name in line.split(":")[0]]
        assert lines == [f"- {name}: no CUDA device"], lines
    budget = int(re.search(r"add up to (\d+) s", done.stdout).group(1))
    assert budget <= 540
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert 1 <= len(files) <= 8
    assert all(len(p.relative_to(tmp_path / "out").parts) <= 3 for p in files)  # $OUT/a/b/file at most
    assert (tmp_path / "out" / "report.md").read_text().count("no CUDA device") >= len(CUDA_STEPS)


def test_a_python_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    done = run_check("/nonexistent/python", tmp_path, tmp_path / "no_wheels")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "error: PYTHON: /nonexistent/python is not an executable (set PYTHON to a Python that has torch, "
        "e.g. PYTHON=python3)"
    ]
    assert not (tmp_path / "out").exists()


def test_no_wheelhouse_on_a_bare_python_is_one_line_and_exit_2(bare_python, tmp_path):
    done = run_check(bare_python, tmp_path, tmp_path / "no_wheels")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / 'no_wheels'}: the toolkit does not import")
