"""Every script in scripts/ (benchmarks and experiments included) starts and prints its help: a script that no
test imports otherwise still cannot break silently when the code it calls changes."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDS_HABITAT_LAB = {"habitat_lab_check.py"}  # runs in habitat-lab's own environment (docs/habitat.md)
SCRIPTS = sorted(
    p
    for p in [*ROOT.glob("scripts/*.py"), *ROOT.glob("scripts/experiments/*.py")]
    if not p.name.startswith("_") and p.name not in NEEDS_HABITAT_LAB
)


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess]:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}

    def run(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(path), "--help"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((p.name for p in SCRIPTS), pool.map(run, SCRIPTS), strict=False))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [p.name for p in SCRIPTS])
def test_script_prints_its_help(helps, name):
    done = helps[name]
    assert done.returncode == 0 and "usage" in done.stdout.lower(), (name, done.stderr[-1500:])


def test_bench_train_variant_names_compose_their_levers() -> None:
    """Every PPO variant bench_train.py offers resolves to config overrides (an unknown token would raise), and
    tokens combine: `-bf16train-16envs` is bf16 training with 16 envs at the same frames per rollout."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import bench_train

    for name in bench_train.PPO_VARIANTS:
        bench_train.variant_overrides(name, [])
    cfg = bench_train.ppo_config("sidetune", bench_train.variant_overrides("sidetune-bf16train-16envs", []))
    preset = bench_train.ppo_config("sidetune", [])
    assert cfg.policy.train_precision == "bfloat16" and cfg.train.num_envs == 16
    assert cfg.train.num_envs * cfg.ppo.n_steps == preset.train.num_envs * preset.ppo.n_steps
    assert (
        bench_train.ppo_config("sidetune", bench_train.variant_overrides("sidetune-before", [])).policy.base_precision
        == "float32"
    )
