"""Every bad input, through the real scripts: one line ``error: <field>: <problem> (<fix>)``, exit code 2,
and nothing written (no run folder, no pool, no weights). The cases run as subprocesses in parallel once
per module; each case is then one assertion set, so a failure names its input."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

# All cases run in the module fixture (about 40 s on an idle 2-core machine: each script imports torch
# before it can read its config); the fixture's time counts against the first test, so allow a loaded box.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^error: (?P<field>[^\s:][^:]*): (?P<problem>.+) \((?P<fix>.+)\)$")

# (script, arguments, field named in the message, text the message must contain); {tmp}, {garbage},
# {truncated} are filled in per run. Trainers get run.runs_root={tmp}/runs (and a pool under {tmp}).
CASES = [
    ("train_ppo", ["env.buildings=[Nowhere]"], "env.buildings", "unknown building 'Nowhere'"),
    ("train_ppo", ["env.split=validation"], "env.split", "'validation' is unknown"),
    ("train_ppo", ["env.buildings=[]"], "env.buildings", "is an empty list"),
    ("train_ppo", ["env.buildings=Ambrona"], "env.buildings", "'Ambrona' is not a list"),
    ("train_ppo", ["env.resolution=abc"], "env.resolution", "'abc' is not a whole number"),
    ("train_ppo", ["env.resolution=40"], "env.resolution", "40 is unsupported"),
    ("train_ppo", ["env.resolution=64"], "env.resolution", "64 but base 'curvature' was pretrained at 128x128"),
    ("bc", ["env.resolution=64", "--base", "denoising"], "env.resolution", "64 but base 'denoising' was pretrained at 128x128"),
    ("train_ppo", ["--base", "{garbage}"], "policy.base", "is not a readable weights file"),
    ("train_ppo", ["--base", "{truncated}"], "policy.base", "is not a readable weights file"),
    ("train_ppo", ["--base", "nonsense"], "policy.base", "'nonsense' is neither a shipped base nor an existing file"),
    ("train_ppo", ["policy.method=sidetuned"], "policy.method", "'sidetuned' is unknown"),
    ("train_ppo", ["policy.methd=features"], "policy.methd", "unknown key"),
    ("train_ppo", ["policy.alpha_schedule=hyperbolic"], "policy.alpha_learned", "must be false"),
    ("train_ppo", ["ppo.batch_size=100000"], "ppo.batch_size", "does not fit the rollout"),
    ("train_ppo", ["--seed", "1", "train.num_envs=0"], "train.num_envs", "0 is out of range"),
    ("train_ppo", ["train.max_minutes=-1"], "train.max_minutes", "-1.0 is out of range"),
    ("train_ppo", ["eval.episodes_per_building=0"], "eval.episodes_per_building", "0 is out of range"),
    ("train_ppo", ["run.device=tpu"], "run.device", "'tpu' is unknown"),
    ("train_ppo", ["ppo.learning_rate=fast"], "ppo.learning_rate", "'fast' is not a number"),
    ("train_ppo", ["train.eval_at_start=maybe"], "train.eval_at_start", "'maybe' is not true or false"),
    ("train_ppo", ["n_steps"], "n_steps", "is not an override"),
    ("train_ppo", ["--config", "{tmp}/missing.yaml"], "--config", "does not exist"),
    ("train_ppo", ["--resume", "{tmp}/nowhere"], "run folder", "does not exist"),
    ("bc", ["bc.trajectories=0"], "bc.trajectories", "0 is out of range"),
    ("bc", ["bc.augment=flip"], "bc.augment", "'flip' is unknown"),
    ("bc", ["bc.val_fraction=1.0"], "bc.val_fraction", "1.0 is out of range"),
    ("bc", ["--no-generate", "bc.trajectories=5"], "bc.pool_dir", "no trajectory pool"),
    ("make_trajectories", ["bc.storage=video"], "bc.storage", "'video' is unknown"),
    ("evaluate", [], "RUN_DIR", "nothing to evaluate"),
    ("evaluate", ["--reference", "--set", "env.resolution=abc"], "env.resolution", "'abc' is not a whole number"),
    ("evaluate", ["--reference", "--set", "env.nope=1"], "env.nope", "unknown key"),
    ("evaluate", ["--reference", "--episodes-per-building", "0"], "eval.episodes_per_building", "0 is out of range"),
    ("pretrain_base", ["pretrain.task=depth"], "pretrain.task", "'depth' is unknown"),
    ("pretrain_base", ["--task", "curvature", "pretrain.resolution=40"], "pretrain.resolution", "40 is unsupported"),
    ("pretrain_base", ["pretrain.steps=0", "--task", "denoising"], "pretrain.steps", "0 is out of range"),
    ("pretrain_base", ["pretrain.init_from={tmp}/none.pth"], "pretrain.init_from", "does not exist"),
]
TRAINERS = ("train_ppo", "bc", "make_trajectories")


def _command(script: str, args: list[str], tmp: Path, files: dict[str, str]) -> list[str]:
    filled = [a.format(tmp=tmp, **files) for a in args]
    if script in TRAINERS:
        filled += [f"run.runs_root={tmp / 'runs'}", f"bc.pool_dir={tmp / 'pool'}"] if script != "train_ppo" else [f"run.runs_root={tmp / 'runs'}"]
    if script == "pretrain_base":
        filled += ["--out", str(tmp / "weights" / "x.pth")]
    return [sys.executable, str(ROOT / "scripts" / f"{script}.py"), *filled]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[tuple[Path, subprocess.CompletedProcess]]:
    """Run every case once (4 at a time), each in its own empty folder."""
    files_dir = tmp_path_factory.mktemp("files")
    garbage = files_dir / "garbage.pth"
    garbage.write_bytes(os.urandom(256))
    good = files_dir / "good.pth"
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}}, good)
    truncated = files_dir / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:200])
    files = {"garbage": str(garbage), "truncated": str(truncated)}
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}

    def run(case: tuple) -> tuple[Path, subprocess.CompletedProcess]:
        script, args, _, _ = case
        tmp = tmp_path_factory.mktemp(script)
        done = subprocess.run(_command(script, args, tmp, files), capture_output=True, text=True, env=env, cwd=tmp, timeout=240)
        return tmp, done

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(run, CASES))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c[0]}:{' '.join(c[1]) or '(none)'}" for c in CASES])
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(outcomes, index):
    script, args, field, text = CASES[index]
    tmp, done = outcomes[index]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1, done.stderr
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert match["field"] == field and text in lines[0], lines[0]
    assert [p for p in tmp.rglob("*")] == [], "the failed command wrote files"


def test_overrides_and_flags_in_any_order():
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    script = [sys.executable, str(ROOT / "scripts" / "train_ppo.py")]
    shown = subprocess.run([*script, "ppo.n_steps=64", "--seed", "5", "env.resolution=32", "--method", "features", "--base", "random", "--print-config"],
                           capture_output=True, text=True, env=env, cwd=ROOT)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    for line in ("n_steps: 64", "seed: 5", "resolution: 32", "method: features"):
        assert line in shown.stdout


def test_every_script_has_a_console_entry_point():
    import importlib
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    targets = set()
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name
        targets.add(module)
    wrappers = [p for p in (ROOT / "scripts").glob("*.py") if not p.name.startswith(("_", "bench_", "distill_"))]
    for wrapper in wrappers:  # python scripts/<name>.py runs the same program as the console script
        named = re.search(r"^from (\S+) import cli$", wrapper.read_text(), re.M)
        assert named and named[1] in targets, wrapper.name
