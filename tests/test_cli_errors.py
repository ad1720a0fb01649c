"""Every bad input, through the real scripts: one line ``error: <field>: <problem> (<fix>)``, exit code 2,
and nothing written (no run folder, no pool, no weights). The cases run once per module, 4 at a time, as forked
processes that run each script file as __main__ (tests/script_forks.py); each case is then one assertion set,
so a failure names its input."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from script_forks import ScriptRun, run_scripts
from tiny_runs import TINY_PPO as TINY_PPO_SETTINGS

# All cases run in the module fixture (about 15 s on a loaded 2-core machine, against 108 s with a fresh
# interpreter importing torch per case); the fixture's time counts against the first test, so allow a loaded box.
pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^error: (?P<field>[^\s:][^:]*): (?P<problem>.+) \((?P<fix>.+)\)$")

# (script, arguments, field named in the message, text the message must contain); {tmp}, {garbage},
# {truncated}, {odd_pickle} are filled in per run. Trainers get run.runs_root={tmp}/runs (and a pool under {tmp}).
CASES = [
    ("train_ppo", ["env.buildings=[Nowhere]"], "env.buildings", "unknown building 'Nowhere'"),
    ("train_ppo", ["env.split=validation"], "env.split", "'validation' is unknown"),
    ("train_ppo", ["env.buildings=[]"], "env.buildings", "is an empty list"),
    ("train_ppo", ["env.buildings=Ambrona"], "env.buildings", "'Ambrona' is not a list"),
    ("train_ppo", ["env.resolution=abc"], "env.resolution", "'abc' is not a whole number"),
    ("train_ppo", ["env.resolution=40"], "env.resolution", "40 is unsupported"),
    ("bc", ["env.resolution=16"], "env.resolution", "16 is too small for a policy"),
    ("train_ppo", ["env.resolution=64"], "env.resolution", "64 but base 'curvature' was pretrained at 128x128"),
    (
        "bc",
        ["env.resolution=64", "--base", "denoising"],
        "env.resolution",
        "64 but base 'denoising' was pretrained at 128x128",
    ),
    ("train_ppo", ["--base", "{garbage}"], "policy.base", "is not a readable weights file"),
    ("train_ppo", ["--base", "{truncated}"], "policy.base", "is not a readable weights file"),
    ("train_ppo", ["--base", "{odd_pickle}"], "policy.base", "is not a readable weights file"),  # torch warns first
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
    ("evaluate", ["--reference", "--compare", "sidetnue"], "--compare", "did you mean `sidetune`"),
    ("evaluate", ["--reference", "--compare", "features bsae=random"], "--compare", "'METHOD base=NAME'"),
    ("pretrain_base", ["pretrain.task=depth"], "pretrain.task", "'depth' is unknown"),
    ("pretrain_base", ["--task", "curvature", "pretrain.resolution=40"], "pretrain.resolution", "40 is unsupported"),
    ("pretrain_base", ["pretrain.steps=0", "--task", "denoising"], "pretrain.steps", "0 is out of range"),
    ("pretrain_base", ["pretrain.init_from={tmp}/none.pth"], "pretrain.init_from", "does not exist"),
    ("pretrain_base", ["pretrain.init_from={garbage}"], "pretrain.init_from", "is not a readable weights file"),
    ("train_ppo", ["ppo.lerning_rate=0.1"], "ppo.lerning_rate", "did you mean `learning_rate`"),
    ("train_ppo", ["policy.merge=alfa"], "policy.merge", "did you mean `alpha`"),
    ("bc", ["policy.alpha_init=1.0"], "policy.alpha_init", "cannot start at exactly 1.0"),
    ("train_ppo", ["--resume", "{tmp}"], "run folder", "has no config.yaml"),
    ("bc", ["--resume", "{ppo_run}"], "--resume", "is a PPO run, which scripts/bc.py cannot continue"),
    ("train_ppo", ["--resume", "{bc_run}"], "--resume", "resume it with scripts/bc.py --resume"),
    *(
        []
        if torch.cuda.is_available()
        else [
            (
                "train_ppo",
                ["--config", "{root}/configs/ppo_gpu.yaml", "--device", "cpu", "--base", "random"],
                "env.render_device",
                "'cuda' but CUDA is not available",
            )
        ]
    ),
]
TRAINERS = ("train_ppo", "bc", "make_trajectories")


def _arguments(script: str, args: list[str], tmp: Path, files: dict[str, str]) -> list[str]:
    filled = [a.format(tmp=tmp, root=ROOT, **files) for a in args]
    if script in TRAINERS:
        filled += (
            [f"run.runs_root={tmp / 'runs'}", f"bc.pool_dir={tmp / 'pool'}"]
            if script != "train_ppo"
            else [f"run.runs_root={tmp / 'runs'}"]
        )
    if script == "pretrain_base":
        filled += ["--out", str(tmp / "weights" / "x.pth")]
    return filled


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[tuple[Path, subprocess.CompletedProcess]]:
    """Run every case once (4 at a time, as forks of one process that imported the scripts' modules: see
    tests/script_forks.py), each in its own empty folder."""
    files_dir = tmp_path_factory.mktemp("files")
    garbage = files_dir / "garbage.pth"
    garbage.write_bytes(random.Random(0).randbytes(256))  # fixed: random bytes can start like a pickle header
    odd_pickle = files_dir / "odd_pickle.pth"  # a pickle "protocol 17" header: torch.load warns, then fails
    odd_pickle.write_bytes(b"\x80\x11" + bytes(254))
    good = files_dir / "good.pth"
    torch.save({"state_dict": {"w": torch.zeros(64, 64)}}, good)
    truncated = files_dir / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:200])
    runs = {}
    for kind in ("ppo", "bc"):  # a run folder of each trainer (what --resume reads before anything else)
        runs[f"{kind}_run"] = files_dir / f"{kind}-run"
        runs[f"{kind}_run"].mkdir()
        (runs[f"{kind}_run"] / "config.yaml").write_text(f"env: {{}}\nrun: {{}}\n{kind}: {{}}\n")
    files = {"garbage": str(garbage), "truncated": str(truncated), "odd_pickle": str(odd_pickle)}
    files.update({key: str(path) for key, path in runs.items()})
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    folders = [tmp_path_factory.mktemp(script) for script, *_ in CASES]
    runs = [
        ScriptRun(script, _arguments(script, args, tmp, files), tmp)
        for (script, args, _, _), tmp in zip(CASES, folders, strict=True)
    ]
    preload = sorted({f"agents.commands.{script}" for script, *_ in CASES})
    return list(zip(folders, run_scripts(runs, preload, workers=4, env=env), strict=True))


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
    shown = subprocess.run(
        [
            *script,
            "ppo.n_steps=64",
            "--seed",
            "5",
            "env.resolution=32",
            "--method",
            "features",
            "--base",
            "random",
            "--print-config",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
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
    # benchmarks, checks and one-off tools (bench_*, habitat_* cross-checks, distill_*) are scripts, not commands
    wrappers = [
        p for p in (ROOT / "scripts").glob("*.py") if not p.name.startswith(("_", "bench_", "distill_", "habitat_"))
    ]
    for wrapper in wrappers:  # python scripts/<name>.py runs the same program as the console script
        named = re.search(r"^from (\S+) import cli$", wrapper.read_text(), re.M)
        assert named and named[1] in targets, wrapper.name


# ---------------------------------------------------------------- faults beyond bad values
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
# root ignores file permissions; without these two capabilities it is refused like any user
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []
TINY_PPO = [*TINY_PPO_SETTINGS, "ppo.total_frames=32", "policy.base=random"]
TINY_BC = ["env.resolution=32", "policy.base=random", "bc.trajectories=4", "bc.shard_size=4", "bc.generate_envs=4"]


def _script(name: str, *args: str, unprivileged: bool = False) -> subprocess.CompletedProcess:
    command = [*(UNPRIVILEGED if unprivileged else []), sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)


def _one_line(done: subprocess.CompletedProcess, field: str, text: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, done.stderr[-2000:])
    match = LINE.match(lines[0])
    assert match and match["field"] == field and text in lines[0], lines[0]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def read_only(tmp_path) -> Path:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root's rights")
def test_read_only_output_folders_are_one_line_as_a_user(read_only, tmp_path):
    _one_line(_script("make_episodes", str(read_only / "eps"), unprivileged=True), "OUT_DIR", "Permission denied")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("trainer: ppo\nexperiment: ro\ngrid: {seed: [0]}\noverrides: [" + ", ".join(TINY_PPO) + "]\n")
    _one_line(
        _script("sweep", str(sweep), "--runs-root", str(read_only / "runs"), "--no-progress", unprivileged=True),
        "--runs-root",
        "Permission denied",
    )
    _one_line(
        _script("train_ppo", *TINY_PPO, f"run.runs_root={read_only / 'runs'}", unprivileged=True),
        "run.runs_root",
        "Permission denied",
    )
    pretrain = ["--task", "denoising", "--out", str(read_only / "w" / "x.pth")]
    _one_line(_script("pretrain_base", *pretrain, unprivileged=True), "pretrain.out", "Permission denied")
    assert list(read_only.iterdir()) == []


def _start(name: str, *args: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def _wait_for(condition, what: str, seconds: float = 240.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_resumes_of_one_run_one_exits_2_and_a_killed_writers_lock_is_taken_over(tmp_path):
    """A run killed during training (its lock file stays; the kernel dropped the lock) is resumed: the resume
    takes the lock over and removes the temp zip a killed save left. A second --resume meanwhile exits 2
    naming the first one's pid."""
    run = tmp_path / "ppo" / "r"
    long = [*TINY_PPO, "ppo.total_frames=1000000", f"run.runs_root={tmp_path}", "run.name=r"]
    first = _start("train_ppo", *long)
    try:
        _wait_for(lambda: (run / "checkpoints" / "last.zip").is_file() or first.poll() is not None, "a checkpoint")
    finally:
        first.kill()  # SIGKILL mid-training
        first.wait()
    assert (run / ".lock").read_text().strip() == str(first.pid)
    stale = run / "checkpoints" / ".last.zip.k2j3h4ab.zip"  # SB3 saving to a suffix-less temp name, killed
    stale.write_bytes(b"")
    resumed = _start("train_ppo", "--resume", str(run))
    try:
        _wait_for(
            lambda: (run / ".lock").read_text().strip() == str(resumed.pid) or resumed.poll() is not None,
            "the resume to take the lock",
        )
        assert resumed.poll() is None, resumed.stderr.read()[-2000:]
        assert not stale.exists()
        _one_line(
            _script("train_ppo", "--resume", str(run)),
            "run folder",
            f"is being written by another process (pid {resumed.pid})",
        )
        evaluation = _script("evaluate", str(run), "--episodes-per-building", "1", "--no-progress")
        assert evaluation.returncode == 1 and f"is being written by another process (pid {resumed.pid})" in (
            evaluation.stdout + evaluation.stderr
        ), evaluation
        assert not (run / "eval.json").exists()  # the evaluation wrote nothing into the training run
        assert resumed.poll() is None  # the first resume trains on
    finally:
        resumed.kill()
        resumed.wait()


def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path):
    made = _script("train_ppo", *TINY_PPO, f"run.runs_root={tmp_path}", "run.name=r")
    assert made.returncode == 0, made.stderr[-2000:]
    run = tmp_path / "ppo" / "r"
    results = json.loads((run / "results.json").read_text(), parse_constant=lambda name: pytest.fail(f"bare {name}"))
    assert results["frames"] == 32
    before = _snapshot(run)
    again = _script("train_ppo", "--resume", str(run))
    assert again.returncode == 0 and "is finished" in again.stdout and "nothing changed" in again.stdout, again
    assert _snapshot(run) == before


def test_only_user_errors_are_one_line_anything_else_keeps_its_traceback():
    from agents.run.cli import run_main
    from common.config import ConfigError

    def user() -> None:
        raise ConfigError("ppo.n_steps", "0 is out of range", "use a value >= 1")

    def bug() -> None:
        raise ValueError("a real crash inside torch")

    with pytest.raises(SystemExit) as exited:
        run_main(user)
    assert exited.value.code == 2
    with pytest.raises(ValueError, match="a real crash"):  # propagates: Python prints the traceback, exit code 1
        run_main(bug)
    crash = subprocess.run(
        [sys.executable, "-c", "from agents.run.cli import run_main\ndef f(): raise RuntimeError('boom')\nrun_main(f)"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    assert crash.returncode == 1 and "Traceback" in crash.stderr and "RuntimeError: boom" in crash.stderr


def test_unreadable_episode_file_is_not_advised_to_be_deleted(tmp_path, monkeypatch):
    from envs.episodes import EpisodeFileError, load_episodes

    path = tmp_path / "train.json.gz"
    path.write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(EpisodeFileError, match="corrupt or truncated") as corrupt:
        load_episodes(path)
    monkeypatch.setattr(
        Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
    )
    with pytest.raises(
        EpisodeFileError, match=r"cannot be read \(Permission denied\) \(fix its permissions"
    ) as unreadable:
        load_episodes(path)
    assert all("delete" not in str(err.value) and LINE.match(f"error: {err.value}") for err in (corrupt, unreadable))


def test_atomic_files_get_the_mode_open_gives_and_results_are_strict_json(tmp_path):
    from agents.run.run_dir import RunDir
    from common.atomic_io import atomic_write_text

    saved = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(saved)
    run = RunDir(tmp_path)
    run.write_results({"best_val_loss": float("nan"), "history": [{"val_loss": float("inf")}], "n": 3})
    results = json.loads(run.results_path.read_text(), parse_constant=lambda name: pytest.fail(f"bare {name}"))
    assert results["best_val_loss"] is None and results["history"] == [{"val_loss": None}] and results["n"] == 3


def test_a_set_of_files_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """atomic_paths (BC's epoch checkpoints): a failure while writing the set leaves every target as it was and
    no temp file; Ctrl-C while writing or renaming is delivered once the whole set is in place."""
    from common import atomic_io

    # Ctrl-C raises KeyboardInterrupt here even when the suite was started in the background (`... &`), whose
    # shell hands it SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    targets = [tmp_path / "last.zip", tmp_path / "state.pt"]
    for path in targets:
        path.write_text("old")
    with pytest.raises(OSError, match="No space"):
        with atomic_io.atomic_paths(*targets) as temps:
            temps[0].write_text("new")
            raise OSError(28, "No space left on device")
    assert [p.read_text() for p in targets] == ["old", "old"] and sorted(tmp_path.iterdir()) == targets
    real = os.replace

    def replace_then_ctrl_c(src, dst):
        real(src, dst)
        if Path(dst) == targets[0]:
            os.kill(os.getpid(), signal.SIGINT)  # Python's handler raises KeyboardInterrupt at once, unless held

    monkeypatch.setattr(atomic_io.os, "replace", replace_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        with atomic_io.atomic_paths(*targets) as temps:
            for tmp in temps:
                tmp.write_text("new")
    assert [p.read_text() for p in targets] == ["new", "new"] and sorted(tmp_path.iterdir()) == targets
    monkeypatch.undo()

    def torch_like_writer(path: Path) -> None:
        """Like torch.save's zip writer, which turns an exception raised inside it into a RuntimeError."""
        try:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the file is being written
            path.write_text("newer")
        except KeyboardInterrupt:
            raise RuntimeError("unexpected pos") from None

    with pytest.raises(KeyboardInterrupt):  # what stopped the run, once the set is in place; not the RuntimeError
        with atomic_io.atomic_paths(*targets) as temps:
            for tmp in temps:
                torch_like_writer(tmp)
    assert [p.read_text() for p in targets] == ["newer", "newer"] and sorted(tmp_path.iterdir()) == targets


def test_a_killed_sweep_drivers_processes_end_with_it(tmp_path):
    """The reaper start_ray starts (agents/sweeps/ray_reaper.py) ends what a killed driver leaves, as it does for
    Ray's agents (checked by hand with a real local Ray, see the module): here a stand-in tree that would outlive it."""
    from agents.sweeps.ray_reaper import descendants

    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from agents.sweeps.ray_reaper import start_reaper\n"
            "start_reaper(__import__('os').getpid())\n"
            "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"  # an agent in its own session
            "print('up', flush=True); time.sleep(300)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=ROOT,
    )
    try:
        assert driver.stdout.readline().strip() == "up"
        time.sleep(2.5)  # the reaper notes the tree every second
        tree = descendants(driver.pid)
        sleeper = [pid for pid in tree if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep")]
        assert len(sleeper) == 1
    finally:
        driver.kill()
        driver.wait()
    for _ in range(100):
        if (
            not Path(f"/proc/{sleeper[0]}").exists()
            or b"Z" in Path(f"/proc/{sleeper[0]}/stat").read_bytes().split(b")")[-1][:3]
        ):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the killed driver's child outlived it")


def test_reports_use_the_final_checkpoints_evaluation_and_say_which(tmp_path):
    """A run stopped early, evaluated, then resumed to a later checkpoint: report.py reports the trainer's
    evaluation of the final checkpoint and names the passed-over eval.json; once evaluate.py scores the final
    checkpoint, its eval.json is the one reported. A checkpoint of another method in the run is refused."""
    run = tmp_path / "exp" / "r"
    session = [*TINY_PPO, "ppo.total_frames=1000000", "train.max_minutes=0.02", "train.final_eval=true"]
    where = [f"run.runs_root={tmp_path}", "run.experiment=exp", "run.name=r"]
    made = _script("train_ppo", *session, "eval.episodes_per_building=1", *where)
    assert made.returncode == 0 and (run / "results.json").is_file(), made.stderr[-2000:]
    first = json.loads((run / "results.json").read_text())["frames"]
    scored = _script("evaluate", str(run), "--episodes-per-building", "1", "--checkpoint", "last", "--no-progress")
    assert scored.returncode == 0, scored.stderr[-2000:]
    stale = json.loads((run / "eval.json").read_text())
    assert stale["checkpoint_name"] == "last.zip" and stale["checkpoint_frames"] == first
    assert len(stale["checkpoint_sha256"]) == 64
    resumed = _script("train_ppo", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = json.loads((run / "results.json").read_text())["frames"]
    assert final > first

    reported = _script("report", str(tmp_path / "exp"))
    assert reported.returncode == 0, reported.stderr[-2000:]
    used = json.loads((tmp_path / "exp" / "report.json").read_text())["evaluations"]
    assert list(used.values()) == [f"the trainer's final evaluation (last.zip at {final} frames)"]
    note = f"eval.json scored last.zip at {first} frames, which training has since replaced"
    assert note in reported.stderr and note in (tmp_path / "exp" / "report.md").read_text()

    scored = _script("evaluate", str(run), "--episodes-per-building", "1", "--checkpoint", "last", "--no-progress")
    assert scored.returncode == 0, scored.stderr[-2000:]
    reported = _script("report", str(tmp_path / "exp"))
    used = json.loads((tmp_path / "exp" / "report.json").read_text())["evaluations"]
    assert list(used.values()) == [f"eval.json (last.zip at {final} frames)"], reported.stderr[-2000:]

    other = _script("train_ppo", *TINY_PPO, "policy.method=features", f"run.runs_root={tmp_path}", "run.name=f")
    assert other.returncode == 0, other.stderr[-2000:]
    shutil.copy(tmp_path / "ppo" / "f" / "checkpoints" / "last.zip", run / "checkpoints" / "last.zip")
    before = _snapshot(run)
    _one_line(_script("evaluate", str(run), "--checkpoint", "last"), "policy.method", "'features'")
    assert _snapshot(run) == before


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root's rights")
def test_read_only_pools_are_one_line_naming_the_field_and_no_run_folder(read_only, tmp_path):
    """A pool that cannot be made (read-only folder) names bc.pool_dir; a complete pool in a read-only folder that
    a frozen-base run would put its feature cache in names bc.cache_dir; both before any run folder exists."""
    runs = f"run.runs_root={tmp_path / 'runs'}"
    pool = read_only / "pool"
    _one_line(
        _script("make_trajectories", *TINY_BC, "--pool-dir", str(pool), unprivileged=True),
        "bc.pool_dir",
        "Permission denied",
    )
    _one_line(_script("bc", *TINY_BC, "--pool-dir", str(pool), runs, unprivileged=True), "bc.pool_dir", "Permission")
    assert list(read_only.iterdir()) == [] and not (tmp_path / "runs").exists()

    complete = tmp_path / "complete"
    made = _script("make_trajectories", *TINY_BC, "--pool-dir", str(complete), "--no-progress")
    assert made.returncode == 0, made.stderr[-2000:]
    complete.chmod(0o555)
    try:
        frozen = [*TINY_BC, "--pool-dir", str(complete), "policy.method=features", runs]
        _one_line(_script("bc", *frozen, unprivileged=True), "bc.cache_dir", "feature cache cannot be written")
    finally:
        complete.chmod(0o755)
    assert not (tmp_path / "runs").exists() and not (complete / "feature_cache").exists()


FULL_DISK_AT = """import errno, os, runpy, sys
from stable_baselines3.common import base_class
real, calls = base_class.save_to_zip_file, []
def save(*args, **kwargs):
    calls.append(1)
    if len(calls) >= int(os.environ["FULL_AT"]):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(*args, **kwargs)
base_class.save_to_zip_file = save
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


# BC through scripts/bc.py: 20-step episodes (a short final evaluation), no validation trajectories (every epoch
# is best, so each epoch saves last.zip and best.zip), no α probe
TINY_BC_RUN = [
    *TINY_BC,
    "env.max_steps=20",
    "bc.val_fraction=0",
    "eval.episodes_per_building=1",
    "eval.alpha_probe_episodes=0",
]


@pytest.fixture(scope="module")
def tiny_bc_pool(tmp_path_factory) -> Path:
    """A 4-trajectory pool of TINY_BC_RUN's settings (made in this process: no script start)."""
    from agents.run.config_loader import load_run_config
    from agents.trainers.trajectories import generate_pool

    cfg = load_run_config("bc.yaml", overrides=TINY_BC_RUN)
    root = tmp_path_factory.mktemp("bc-pool")
    generate_pool(cfg.env, root, 4, cfg.bc.pool_seed, cfg.bc.shard_size, cfg.bc.generate_envs, cfg.bc.storage)
    return root


def _tiny_bc(pool: Path) -> list[str]:
    return [*TINY_BC_RUN, f"bc.pool_dir={pool}"]


def _same_policy(a: Path, b: Path) -> bool:
    """Whether two checkpoints hold the same policy weights (SB3 zips: their policy.pth members)."""
    return zipfile.ZipFile(a).read("policy.pth") == zipfile.ZipFile(b).read("policy.pth")


def _epoch_lines(text: str) -> list[str]:
    return [line.split(":")[0] for line in text.splitlines() if line.startswith("epoch ")]


@pytest.mark.parametrize("script", ["train_ppo", "bc"])
def test_a_full_disk_at_a_checkpoint_is_one_line_keeps_the_previous_one_and_resumes(script, tmp_path, request):
    """The disk fills up at the first checkpoint (a run with no checkpoint yet) and at a later one: one line each,
    the earlier checkpoint's bytes intact, no temp file left, and --resume trains the run to its end. BC saves a
    set per epoch (last.zip, best.zip, bc_state.pt): a failure inside the set leaves the previous epoch's whole."""
    if script == "train_ppo":  # a checkpoint at frame 0 and at 32: the 1st and 2nd saves
        args, kind, cases, finished = [*TINY_PPO, "ppo.total_frames=64"], "ppo", ((1, []), (2, ["last.zip"])), 64
    else:  # two epochs, each saving last.zip then best.zip: the 2nd save is epoch 1's best.zip, the 4th epoch 2's
        args, kind, finished = [*_tiny_bc(request.getfixturevalue("tiny_bc_pool")), "bc.epochs=2"], "bc", 2
        cases = ((2, []), (4, ["bc_state.pt", "best.zip", "last.zip"]))
    for (full_at, kept), name in zip(cases, ("first", "later"), strict=True):
        where = [f"run.runs_root={tmp_path}", f"run.name={name}", "--no-progress"]
        run = tmp_path / kind / name
        command = [sys.executable, "-c", FULL_DISK_AT, str(ROOT / "scripts" / f"{script}.py"), *args, *where]
        full = subprocess.run(
            command, capture_output=True, text=True, env={**ENV, "FULL_AT": str(full_at)}, cwd=ROOT, timeout=300
        )
        _one_line(full, "run folder", "No space left on device")
        assert f"--resume {run}" in full.stderr
        left = sorted(p.name for p in (run / "checkpoints").iterdir())
        assert left == kept, left
        before = _snapshot(run / "checkpoints")
        if kept:  # the checkpoint the failed save would have replaced
            assert zipfile.is_zipfile(run / "checkpoints" / "last.zip")
        if "best.zip" in kept:  # BC: epoch 1's last.zip and best.zip, not epoch 2's last.zip beside epoch 1's state
            assert _same_policy(run / "checkpoints" / "last.zip", run / "checkpoints" / "best.zip")
        resumed = _script(script, "--resume", str(run))
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        results = json.loads((run / "results.json").read_text())
        assert results["frames" if kind == "ppo" else "epochs"] == finished
        if kind == "bc":  # the resume trains the epochs the failed run did not finish, no more
            assert _epoch_lines(resumed.stdout) == (["epoch 2/2"] if kept else ["epoch 1/2", "epoch 2/2"])
        assert before != _snapshot(run / "checkpoints")


def test_an_episode_set_outside_the_configs_distance_range_is_refused_and_a_presets_set_can_be_written(tmp_path):
    """make_episodes.py writes EnvConfig's 1-20 m sets by default and a preset's with --config; a run of a
    1-6 m preset refuses the 1-20 m set in one line, before any run folder."""
    from envs.episodes import load_episodes

    made = _script("make_episodes", str(tmp_path / "full"))
    assert made.returncode == 0, made.stderr[-2000:]
    runs = tmp_path / "runs"
    _one_line(
        _script("train_ppo", *TINY_PPO, f"env.episodes_dir={tmp_path / 'full'}", f"run.runs_root={runs}"),
        "env.episodes_dir",
        "outside env.episodes' 1-6 m",
    )
    assert not runs.exists()
    preset = _script("make_episodes", str(tmp_path / "ppo"), "--config", str(ROOT / "configs" / "ppo.yaml"))
    assert preset.returncode == 0, preset.stderr[-2000:]
    for split in ("train", "heldout"):
        distances = [e.geodesic_distance for e in load_episodes(tmp_path / "ppo" / split / f"{split}.json.gz")]
        assert 1.0 <= min(distances) and max(distances) <= 6.0
        full = [e.geodesic_distance for e in load_episodes(tmp_path / "full" / split / f"{split}.json.gz")]
        assert max(full) > 6.0


@pytest.mark.parametrize("script", ["train_ppo", "bc"])
def test_sigterm_is_handled_like_ctrl_c_and_a_checkpoint_path_resumes_its_run(script, tmp_path, request):
    """A batch scheduler's SIGTERM: Ctrl-C's message, the checkpoint intact, exit 143; ``--resume`` given the
    checkpoint file resumes its run folder (BC: at the epoch after its saved state's); run.runs_root=~/x is the
    home's x, not a folder named ~."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**ENV, "HOME": str(home)}
    command = [sys.executable, str(ROOT / "scripts" / f"{script}.py")]
    if script == "train_ppo":
        long, kind = [*TINY_PPO, "ppo.total_frames=1000000"], "ppo"
    else:
        long, kind = [*_tiny_bc(request.getfixturevalue("tiny_bc_pool")), "bc.epochs=100000"], "bc"
    long += ["run.runs_root=~/x", "run.name=r", "--no-progress"]
    run = home / "x" / kind / "r"
    first = subprocess.Popen([*command, *long], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(lambda: (run / "checkpoints" / "last.zip").is_file() or first.poll() is not None, "a checkpoint")
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 143, err[-2000:]
    assert (
        err.strip().splitlines()[-1]
        == "interrupted; the last checkpoint in the run folder is intact (use --resume RUN_DIR)"
    )
    checkpoint = run / "checkpoints" / "last.zip"
    assert zipfile.is_zipfile(checkpoint) and not (ROOT / "~").exists()
    if kind == "bc":  # the epoch's set is whole: last.zip is the state's epoch's (every epoch is best)
        assert _same_policy(checkpoint, run / "checkpoints" / "best.zip")
        saved = torch.load(run / "checkpoints" / "bc_state.pt", weights_only=False)["epoch"]
    resumed = subprocess.Popen(
        [*command, "--resume", str(checkpoint)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        _wait_for(
            lambda: (run / ".lock").read_text().strip() == str(resumed.pid) or resumed.poll() is not None,
            "the resume to take the lock",
        )
        assert resumed.poll() is None, resumed.stderr.read()[-2000:]
        if kind == "bc":  # its first epoch is the one after the saved state's (a dead process ends the lines)
            line = next((line for line in resumed.stdout if line.startswith("epoch ")), "")
            assert line.startswith(f"epoch {saved + 1}/100000:"), (line, resumed.stderr.read()[-2000:])
    finally:
        resumed.kill()
        resumed.wait()


def test_models_the_toolkit_builds_leave_no_sb3_folders_in_the_temp_dir(tmp_path, monkeypatch):
    """SB3's default logger makes a SB3-<time> folder in the temp directory on every learn; the models that
    bench_train.py times (the toolkit's and plain SB3's) and a loaded checkpoint make none."""
    import tempfile

    from agents.run.config_loader import load_run_config
    from agents.run.env_builder import make_vec_env
    from agents.run.model_builder import build_model, load_model, save_model

    monkeypatch.delenv("SB3_LOGDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # SB3 asks tempfile.gettempdir()
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import bench_train

    settings = [o for o in TINY_PPO if not o.startswith("env.resolution=")] + ["env.resolution=64"]  # NatureCNN's least
    for name in ("sb3", "sidetune"):
        bench_train.build_variant(name, settings).model.learn(32)
    cfg = load_run_config("ppo.yaml", overrides=settings)
    venv = make_vec_env(cfg, 2, "train", 0)
    save_model(build_model(cfg, venv, device="cpu"), tmp_path / "m.zip")
    load_model(tmp_path / "m.zip", device="cpu", env=venv).learn(32)
    assert sorted(p.name for p in tmp_path.glob("SB3-*")) == []


def test_an_eval_json_is_used_only_for_the_final_checkpoint_as_it_is_now(tmp_path):
    """A committed run (results.json with the trainer's evaluation, no checkpoints) with an eval.json: one that
    records no checkpoint counts unless it is older than results.json; one that scored best.zip is not the final
    checkpoint; one whose last.zip has since been replaced is passed over; the report names each choice."""
    from agents.evaluation.run_folder import read_run_folder

    run = tmp_path / "run"
    shutil.copytree(ROOT / "runs" / "ppo_prior" / "features-curvature", run)
    trainer = read_run_folder(run).evaluation
    scored = {**trainer, "success": {"mean": 0.123}}
    (run / "eval.json").write_text(json.dumps(scored))
    os.utime(run / "results.json", ns=(0, 0))
    assert read_run_folder(run).evaluation["success"]["mean"] == 0.123  # not older: used, though unrecorded
    os.utime(run / "eval.json", ns=(0, 0))
    os.utime(run / "results.json")
    stale = read_run_folder(run)
    assert stale.evaluation is trainer or stale.evaluation == trainer
    assert "older than results.json" in stale.chosen.ignored
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.zip").write_bytes(b"now")
    for name, digest, why in (
        ("best.zip", "0" * 64, "not the final checkpoint last.zip"),
        ("last.zip", "0" * 64, "which training has since replaced"),
    ):
        record = {"checkpoint_name": name, "checkpoint_frames": 7, "checkpoint_sha256": digest}
        (run / "eval.json").write_text(json.dumps({**scored, **record}))
        chosen = read_run_folder(run).chosen
        assert chosen.evaluation == trainer and why in chosen.ignored and "--checkpoint last" in chosen.ignored
        assert chosen.source.startswith("the trainer's final evaluation (last.zip at")
    current = {
        "checkpoint_name": "last.zip",
        "checkpoint_frames": 7,
        "checkpoint_sha256": hashlib.sha256(b"now").hexdigest(),
    }
    (run / "eval.json").write_text(json.dumps({**scored, **current}))
    chosen = read_run_folder(run).chosen
    assert chosen.evaluation["success"]["mean"] == 0.123 and chosen.source == "eval.json (last.zip at 7 frames)"
    assert chosen.ignored is None


def test_setup_with_a_python_that_is_not_there_is_one_line_and_makes_no_venv(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    env = {**os.environ, "PYTHON": "/nonexistent/python3.11"}
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: PYTHON: /nonexistent/python3.11 is not an executable "
        "(set PYTHON to a Python 3.11, or unset it to use python3.11)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scripts"]


def test_ppo_best_checkpoint_and_its_record_are_written_as_one_set(tmp_path, monkeypatch):
    """best.zip and best.json (the evaluation it won) are replaced together: a full disk while writing the
    record is one DiskFullError and leaves the previous best.zip and best.json as they were."""
    from types import SimpleNamespace

    from agents.trainers.ppo_callbacks import EvalCheckpointCallback
    from common.errors import DiskFullError

    class Model:
        def __init__(self, payload: bytes):
            self.payload = payload

        def save(self, handle):
            handle.write(self.payload)

    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    callback = SimpleNamespace(checkpoints=checkpoints, model=Model(b"first"), best=None)
    callback.checkpoint_path = lambda name: checkpoints / f"{name}.zip"
    EvalCheckpointCallback.save_best(callback, {"frames": 100, "success": 0.5})
    assert (checkpoints / "best.zip").read_bytes() == b"first"
    assert json.loads((checkpoints / "best.json").read_text())["frames"] == 100
    callback.model = Model(b"second")
    real_write_text = Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name.startswith(".best.json."):
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(DiskFullError):
        EvalCheckpointCallback.save_best(callback, {"frames": 200, "success": 0.9})
    monkeypatch.undo()
    assert (checkpoints / "best.zip").read_bytes() == b"first"
    assert json.loads((checkpoints / "best.json").read_text())["frames"] == 100 and callback.best["frames"] == 100
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.json", "best.zip"]
