"""habitat-baselines' own PPO and DD-PPO train the toolkit's side-tuned policy (sidetune_habitat_baselines) on
exported scenes, log α to its TensorBoard, and its evaluator evaluates the checkpoint.

Stock ``python -m habitat_baselines.run --config-name=sidetune_pointnav`` (and ``torchrun`` for DD-PPO, gloo, 2
ranks) runs in the venv that runs the tests (``.venv`` under scripts/test.sh), or in the one whose bin folder
SIDETUNE_BASELINES_BIN names. Skipped, with the reason, where habitat-sim or torchvision (which habitat-baselines
imports; scripts/setup.sh installs it with torch) is missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.episode_gen import generate_episodes
from envs.habitat.availability import INSTALL_HINT, habitat_sim_available

# the venv habitat-baselines runs in: this one, or the one whose bin folder SIDETUNE_BASELINES_BIN names
OTHER_BIN = os.environ.get("SIDETUNE_BASELINES_BIN")
BASELINES_BIN = Path(OTHER_BIN or Path(sys.executable).parent)
PYTHON = BASELINES_BIN / "python"
TORCHRUN = BASELINES_BIN / "torchrun"
pytestmark = [
    pytest.mark.habitat,
    pytest.mark.skipif(not habitat_sim_available(), reason=f"habitat-sim is not importable; {INSTALL_HINT}"),
    pytest.mark.skipif(not PYTHON.exists(), reason=f"{PYTHON} is missing (check SIDETUNE_BASELINES_BIN)"),
    pytest.mark.skipif(
        not OTHER_BIN and importlib.util.find_spec("torchvision") is None,
        reason="torchvision is not installed, and habitat-baselines imports it (bash scripts/setup.sh installs it)",
    ),
]
pytest.importorskip(
    "trimesh", reason="trimesh is not installed, so no scene can be exported (pip install -e '.[habitat]')"
)

CONFIG = EnvConfig(num_train_buildings=1, num_heldout_buildings=1)
QUICK = [  # a few tiny updates: 1 env per process, 8-step rollouts, 20-step episodes, 2 evaluation episodes
    "habitat_baselines.num_environments=1",
    "habitat_baselines.num_updates=2",
    "habitat_baselines.rl.ppo.num_steps=8",
    "habitat_baselines.log_interval=1",
    "habitat_baselines.num_checkpoints=1",
    "habitat_baselines.test_episode_count=2",
    "habitat.environment.max_episode_steps=20",
    "sidetune.policy.method=sidetune",
    "sidetune.policy.base=curvature",
]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """An export in ``<tmp>/data`` (the config's relative paths), one training and one held-out building."""
    from envs.habitat.scene_export import export_dataset

    root = tmp_path_factory.mktemp("baselines")
    episodes = {
        split: generate_episodes(building_names(split, CONFIG), 4, seed=2, config=CONFIG)
        for split in ("train", "heldout")
    }
    export_dataset(root / "data", CONFIG, episodes, snap=True)
    return root


def _run(command: list[str], cwd: Path, threaded_envs: bool, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GLOO_SOCKET_IFNAME": "lo",
        "HABITAT_SIM_LOG": "quiet",
        "MAGNUM_LOG": "quiet",
        "OMP_NUM_THREADS": "1",
        # habitat-baselines' own switch: its envs in threads of the trainer's process instead of worker processes,
        # each of which imports torch and habitat again (11 s a process on a 2-core CPU)
        **({"HABITAT_ENV_DEBUG": "1"} if threaded_envs else {}),
    }
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def _scalars(folder: Path) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[float]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend(e.value for e in acc.Scalars(tag))
    return out


def _train_and_evaluate(export: Path, name: str, launcher: list[str], threaded_envs: bool) -> tuple[dict, dict]:
    out = export / name
    out.mkdir()
    paths = [
        f"habitat_baselines.tensorboard_dir={out}/tb",
        f"habitat_baselines.checkpoint_folder={out}/ckpt",
    ]  # the log file keeps its default, beside Hydra's record of the run
    _run(
        [*launcher, "-m", "habitat_baselines.run", "--config-name=sidetune_pointnav", *QUICK, *paths],
        export,
        threaded_envs,
    )
    checkpoints = sorted((out / "ckpt").glob("*.pth"))
    assert checkpoints, f"no checkpoint in {out / 'ckpt'}"
    _run(
        [
            str(PYTHON),
            "-m",
            "habitat_baselines.run",
            "--config-name=sidetune_pointnav",
            *QUICK,
            f"habitat_baselines.tensorboard_dir={out}/eval_tb",
            f"habitat_baselines.eval_ckpt_path_dir={checkpoints[-1]}",
            "habitat_baselines.evaluate=True",
        ],
        export,
        threaded_envs,
    )
    assert not (export / "outputs").exists()  # Hydra's record of each run goes under runs/, not the working folder
    assert list((export / "runs" / "habitat_baselines" / "hydra").glob("*/.hydra/config.yaml"))
    assert list((export / "runs" / "habitat_baselines" / "hydra").glob("*/train.log"))  # the trainer's log
    assert not (export / "train.log").exists()
    return _scalars(out / "tb"), _scalars(out / "eval_tb")


def test_ppo_trains_logs_alpha_and_evaluates(export):
    """With habitat-baselines' env worker processes, as users run it."""
    train, evaluation = _train_and_evaluate(export, "ppo", [str(PYTHON)], threaded_envs=False)
    alpha = train["sidetune/alpha_alpha"]  # the alpha merge's one alpha, written at every log step
    assert alpha and all(0.0 <= a <= 1.0 for a in alpha)
    assert any(k.startswith("learner/") for k in train)
    assert any(k.endswith("success") for k in evaluation), sorted(evaluation)


def test_ddppo_two_ranks_gloo_trains_and_evaluates(export):
    """The envs in threads (the PPO test covers the worker processes): what this test adds is two ranks."""
    launcher = [str(TORCHRUN), "--standalone", "--nnodes=1", "--nproc_per_node=2"]
    train, evaluation = _train_and_evaluate(export, "ddppo", launcher, threaded_envs=True)
    assert any(k.startswith("sidetune/alpha") for k in train)
    assert any(k.endswith("success") for k in evaluation), sorted(evaluation)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sidetune.policy.method=bogus", "error: policy.method: 'bogus' is unknown"),
        ("sidetune.policy.alpha_init=2", "error: policy.alpha_init"),
        ("sidetune.policy.base=/nonexistent.pth", "error: policy.base: '/nonexistent.pth' is neither"),
        ("sidetune.policy_file=nonexistent.yaml", "error: sidetune.policy_file: file"),
        (
            "habitat_baselines.evaluate=True habitat_baselines.eval_ckpt_path_dir=no_checkpoints_here",
            "error: habitat_baselines.eval_ckpt_path_dir: no checkpoint in no_checkpoints_here",
        ),
        (
            "habitat.simulator.agents.main_agent.sim_sensors.rgb_sensor.width=64",
            "error: habitat.simulator.agents.main_agent.sim_sensors.rgb_sensor.width: 64 but base 'curvature'",
        ),
        ("sidetune.policy.side_weights=/nonexistent.pth", None),  # any PolicyConfig key is a Hydra key
    ],
)
def test_policy_overrides_are_schema_keys_and_bad_ones_fail_in_one_line_before_any_simulator(
    export, tmp_path, override, message
):
    """Every PolicyConfig field is a ``sidetune.policy.<key>``; a bad value (or an evaluator given no checkpoint)
    ends with the toolkit's one error line and exit status 2, before habitat-baselines starts its simulators."""
    command = [str(PYTHON), "-m", "habitat_baselines.run", "--config-name=sidetune_pointnav", *QUICK, *override.split()]
    if message is None:  # a valid key: only the resolved config is printed (habitat-baselines' --cfg job)
        command += ["--cfg", "job"]
    env = {**os.environ, "HABITAT_SIM_LOG": "quiet", "MAGNUM_LOG": "quiet", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, cwd=export, capture_output=True, text=True, timeout=300, env=env)
    if message is None:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "side_weights: /nonexistent.pth" in proc.stdout
        return
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-2000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(message), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "Initializing" not in proc.stdout + proc.stderr
