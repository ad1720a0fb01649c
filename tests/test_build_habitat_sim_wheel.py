"""scripts/build_habitat_sim_wheel.sh, the steps that run without internet: argument handling, the packaging step
(the magnum/corrade bindings merged into the habitat_sim wheel) and the final import check, on small stand-in
wheels. The clone and the 35-minute compile need GitHub and are not run here."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_habitat_sim_wheel.sh"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("wheel") is None, reason="the wheel package is not installed (dev extra)"
)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args, "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )


def _wheel(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal valid wheel ``name-0.3.3-py3-none-any.whl`` holding ``files`` (path -> text)."""
    dist = f"{name}-0.3.3.dist-info"
    files = {
        **files,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3.3\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    out = folder / f"{name}-0.3.3-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return out


@pytest.fixture()
def stand_ins(tmp_path):
    """A habitat_sim wheel whose import needs magnum (as the real one), and a bindings wheel with magnum/corrade."""
    sim = _wheel(tmp_path, "habitat_sim", {"habitat_sim/__init__.py": "import magnum\n__version__ = '0.3.3'\n"})
    bindings = _wheel(tmp_path, "magnum", {"magnum/__init__.py": "", "corrade/__init__.py": ""})
    return sim, bindings


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "error: --bogus: unknown argument"),
        (["--jobs", "two"], "error: --jobs: 'two' is not a positive integer"),
        (["--step", "compile"], "error: --step: 'compile' is unknown"),
        (["--step", "package", "--sim-wheel", "nowhere.whl"], "error: --sim-wheel: 'nowhere.whl' is not a file"),
        (["--step", "check"], "error: --wheel: '' is not a file"),
        (["--out"], "error: --out: needs a value"),
    ],
)
def test_bad_arguments_are_one_error_line_and_exit_2(args, message):
    proc = _run(*args)
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr


def test_help_says_what_it_does_what_it_needs_and_how_long_it_takes():
    proc = _run("--help")
    assert proc.returncode == 0 and "--step package --sim-wheel W --bindings-wheel B" in proc.stdout
    assert "GitHub" in proc.stdout and "35 minutes" in proc.stdout and "wheel" in proc.stdout.splitlines()[0]


def test_packaging_puts_the_bindings_inside_and_the_import_check_passes(stand_ins, tmp_path):
    sim, bindings = stand_ins
    proc = _run(
        "--step", "package", "--sim-wheel", str(sim), "--bindings-wheel", str(bindings), "--out", str(tmp_path / "dist")
    )
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.split("wheel: ")[1].split()[0])
    sha = proc.stdout.split("sha256: ")[1].split()[0]
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    names = zipfile.ZipFile(path).namelist()
    assert {"habitat_sim/__init__.py", "magnum/__init__.py", "corrade/__init__.py"} <= set(names)
    check = _run("--step", "check", "--wheel", str(path))
    assert check.returncode == 0 and "import check: habitat_sim 0.3.3 with magnum" in check.stdout, check.stderr


def test_the_import_check_fails_without_the_bindings(stand_ins):
    sim, _ = stand_ins
    proc = _run("--step", "check", "--wheel", str(sim))
    assert proc.returncode == 4 and "error: import habitat_sim failed" in proc.stderr, proc.stderr
