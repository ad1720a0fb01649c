"""Sweeps on Ray: sweep files, cell names, a cell's failure reason, bad input, cells no node can hold, and a real
3-cell BC sweep on a local 1-CPU Ray that is interrupted and resumed without rerunning finished cells."""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from agents.commands import sweep as sweep_cli
from agents.sweeps.sweep import (
    SweepError,
    cell_config,
    cell_name,
    emulated_bf16_cells,
    expand,
    format_deadline,
    load_sweep,
    placement_problem,
    resolve_deadline,
    run_cell,
    run_sweep,
    set_aside,
    start_cell,
    sweep_from_dict,
)

ROOT = Path(__file__).resolve().parent.parent


def spec_dict(**changes):
    data = {
        "trainer": "bc",
        "experiment": "t",
        "grid": {"trajectories": [49, 490], "seed": [0, 1], "method": ["features", "sidetune"]},
    }
    return {**data, **changes}


def test_cell_names_are_deterministic_and_keep_the_bc_grid_names(tmp_path):
    spec = sweep_from_dict(spec_dict(), runs_root=tmp_path)
    names = [c.name for c in expand(spec)]
    assert names == [
        "features-49",
        "sidetune-49",
        "features-49-seed1",
        "sidetune-49-seed1",
        "features-490",
        "sidetune-490",
        "features-490-seed1",
        "sidetune-490-seed1",
    ]
    assert [c.name for c in expand(spec)] == names and expand(spec)[0].folder == tmp_path / "t" / "features-49"
    assert expand(spec)[2].overrides == ["bc.trajectories=49", "run.seed=1", "policy.method=features"]
    assert (
        cell_name({"method": "sidetune", "base": "/data/bases/my_base.pth", "policy.merge": "film", "frames": 1000})
        == "sidetune-my_base-1000-merge_film"
    )
    clash = sweep_from_dict(spec_dict(grid={"base": ["/a/x.pth", "/b/x.pth"]}), runs_root=tmp_path)
    with pytest.raises(SweepError, match=r"^grid: cells .* would share the folder x"):
        expand(clash)


def test_a_list_of_grids_is_the_union_of_their_cells_and_the_shipped_sweeps_expand(tmp_path):
    grids = [
        {"trajectories": [49], "seed": [0, 1], "method": ["features"]},
        {"trajectories": [490], "seed": [0], "base": ["random"], "policy.blind": [True], "method": ["features"]},
    ]
    cells = expand(sweep_from_dict(spec_dict(grid=grids), runs_root=tmp_path))
    assert [c.name for c in cells] == ["features-49", "features-49-seed1", "features-random-490-blind_True"]
    assert cells[-1].overrides[-2:] == ["policy.blind=true", "policy.method=features"]
    with pytest.raises(SweepError, match="would share the folder features-49"):
        expand(sweep_from_dict(spec_dict(grid=[grids[0], grids[0]]), runs_root=tmp_path))
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):  # every shipped sweep file parses and names its cells apart
        assert expand(load_sweep(path, runs_root=tmp_path)), path.name


def test_cells_forcing_bf16_where_it_is_emulated_are_named_before_the_sweep_starts(tmp_path, monkeypatch):
    """A sweep says once, before it starts anything, that cells force bf16 this machine emulates (each cell would
    say it only in its own log, after a slow start); of the shipped sweeps only the bf16-training check forces it."""
    from policies import freeze

    grid = {"trajectories": [49], "seed": [0], "method": ["sidetune"], "policy.train_precision": ["bfloat16", "auto"]}
    spec = sweep_from_dict(spec_dict(grid=grid), runs_root=tmp_path)
    configs = [cell_config(spec, cell) for cell in expand(spec)]
    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ())
    line = emulated_bf16_cells(configs)
    assert line.startswith("warning: policy.train_precision=bfloat16") and line.endswith("(1 of 2 cells to run)")
    forcing = []
    for path in sorted((ROOT / "sweeps").glob("*.yaml")):  # pretraining cells have no policy and are passed over
        shipped = load_sweep(path, runs_root=tmp_path)
        if emulated_bf16_cells([cell_config(shipped, cell) for cell in expand(shipped)]):
            forcing.append(path.name)
    assert forcing == ["ppo_parity_bf16train.yaml"]
    monkeypatch.setattr(freeze, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    assert emulated_bf16_cells(configs) is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"trainer": "dagger"}, r"^trainer: 'dagger' is unknown \(use one of bc, ppo, pretrain\)$"),
        ({"grid": {"frames": [1000]}}, r"^grid.frames: unknown axis for trainer bc \("),
        ({"grid": {"method": ["features", "features"]}}, r"^grid.method: needs at least one value and no repeats"),
        ({"resources": {"cpus": 0}}, r"^resources.cpus: 0 must be a number"),
        ({"resources": {"memory": 4}}, r"^resources: .* is not understood"),
        ({"overrides": ["bc.epochs"]}, r"^overrides: must be a list of key=value strings"),
        ({"experiment": "a/../b"}, r"^experiment: 'a/../b' is not a folder name"),
    ],
)
def test_bad_sweep_files_name_the_field_the_problem_and_the_fix(tmp_path, changes, message):
    with pytest.raises(SweepError, match=message):
        sweep_from_dict(spec_dict(**changes), runs_root=tmp_path)


def test_cli_bad_input_is_one_error_line_exit_2_and_writes_nothing(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(spec_dict()))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec_dict(trainer="dagger")))
    runs = tmp_path / "runs"
    for argv in (
        [str(bad)],
        [str(good), "bc.no_such_key=1"],
        [str(good), "--deadline", "25:00"],
        [str(tmp_path / "none.yaml")],
    ):
        assert sweep_cli.main([*argv, "--runs-root", str(runs), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), err
    assert not runs.exists()
    assert sweep_cli.main([str(good), "--runs-root", str(runs), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8 and lines[0].startswith("features-49\tstart\t") and "run.name=features-49" in lines[0]
    assert not runs.exists()


def test_a_failing_cell_reports_its_error_line_and_exit_code(tmp_path):
    log = tmp_path / "logs" / "c.log"
    failing = [
        sys.executable,
        "-c",
        "print('training...'); import sys; "
        "print('error: bc.epochs: must be >= 1 (set it)', file=sys.stderr); sys.exit(2)",
    ]
    out = run_cell(failing, str(tmp_path / "results.json"), str(log), threads=1)
    assert out["status"] == "failed"
    assert out["reason"].startswith("error: bc.epochs: must be >= 1 (set it) (exit code 2; log ")
    silent = run_cell([sys.executable, "-c", "pass"], str(tmp_path / "results.json"), str(log), threads=1)
    assert silent["status"] == "failed" and "wrote no" in silent["reason"]


def test_a_cell_another_process_is_running_is_neither_started_nor_moved_aside(tmp_path, capsys):
    one_cell = spec_dict(grid={"trajectories": [49], "seed": [0], "method": ["features"]})
    spec = sweep_from_dict(one_cell, tmp_path)
    (cell,) = expand(spec)
    cell.folder.mkdir(parents=True)
    (cell.folder / "config.yaml").write_text("run: {}\n")  # begun, no checkpoint yet: a sweep would set it aside
    holder = os.open(cell.folder / ".lock", os.O_RDWR | os.O_CREAT)  # another writer (a second open file)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(holder, b"4242\n", 0)
    try:
        assert cell.writer() == "4242"
        sweep_file = tmp_path / "sweep.yaml"
        sweep_file.write_text(yaml.safe_dump(one_cell))
        assert sweep_cli.main([str(sweep_file), "--runs-root", str(tmp_path), "--dry-run"]) == 0
        assert capsys.readouterr().out.split("\t")[1] == "running (pid 4242)"
        assert set_aside(spec, cell) is None
        logs: list[str] = []
        (outcome,) = run_sweep(spec, progress=False, log=logs.append)  # nothing to start: no Ray either
        assert outcome["status"] == "not started" and "pid 4242" in outcome["reason"], outcome
        assert any("1 running elsewhere, 0 to run" in line for line in logs), logs
        row = next(
            line for line in (spec.folder / "sweep.md").read_text().splitlines() if line.startswith("| features")
        )
        assert "| not started |" in row and "pid 4242" in row, row  # not "done (earlier)"
        assert (cell.folder / "config.yaml").is_file()
    finally:
        os.close(holder)  # the writer ends: its kernel lock goes with it
    assert cell.writer() is None
    moved = set_aside(spec, cell)
    assert moved is not None and (moved / "config.yaml").is_file() and not cell.folder.exists()


def test_a_queued_cell_is_judged_when_a_worker_takes_it_not_when_it_was_queued(tmp_path, monkeypatch):
    # two sweeps of one file (one per core) queue the same cells; by the time a worker takes one, the other
    # sweep may be running it or have finished it: neither may make it fail, run twice or move aside
    import agents.sweeps.sweep as sweep_module

    one_cell = spec_dict(grid={"trajectories": [49], "seed": [0], "method": ["features"]})
    spec = sweep_from_dict(one_cell, tmp_path)
    (cell,) = expand(spec)
    log = tmp_path / "logs" / "c.log"
    cell.folder.mkdir(parents=True)
    (cell.folder / "config.yaml").write_text("run: {}\n")  # begun, no checkpoint: unowned, it would be set aside
    holder = os.open(cell.folder / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(holder, b"4242\n", 0)
    try:
        running = start_cell(spec, cell, str(log), threads=1)
        assert running["status"] == "not started" and "pid 4242" in running["reason"], running
        assert (cell.folder / "config.yaml").is_file()  # left where its writer writes
        (cell.folder / "results.json").write_text("{}")  # the other sweep finishes the cell
    finally:
        os.close(holder)
    passed = time.time() - 1.0
    late = start_cell(spec, cell, str(log), threads=1, deadline=passed)
    assert late["status"] == "not started" and f"deadline {format_deadline(passed)} had passed" in late["reason"]
    finished = start_cell(spec, cell, str(log), threads=1)
    assert finished["status"] == "done" and finished["skipped"] and finished["seconds"] == 0.0, finished
    assert not log.exists()  # nothing was run

    # and the report of a sweep whose cell another process finished while this one waited says done, not "not started"
    (cell.folder / "results.json").unlink()

    def left_to_the_other_sweep(ray, spec, todo, outcomes, *args):
        for c in todo:
            outcomes[c.name] = {"status": "not started", "skipped": False, "reason": "pid 4242", "seconds": 0.0}
            (c.folder / "results.json").write_text("{}")

    class NoRay:
        def nodes(self):
            return [{"Alive": True, "Resources": {"CPU": 1.0}}]

        def shutdown(self):
            pass

    monkeypatch.setattr(sweep_module, "start_ray", lambda *args: NoRay())
    monkeypatch.setattr(sweep_module, "_run_on_ray", left_to_the_other_sweep)
    monkeypatch.setattr(sweep_module, "prepare_data", lambda *args: None)
    (outcome,) = run_sweep(spec, progress=False, log=lambda line: None)
    assert outcome["status"] == "done" and outcome["skipped"], outcome


def test_a_deadline_is_the_next_such_time_so_one_after_midnight_is_tonight():
    evening = datetime.datetime(2026, 11, 26, 22, 50, 30, tzinfo=datetime.UTC).timestamp()
    assert format_deadline(resolve_deadline("23:30", now=evening)) == "2026-11-26 23:30 UTC"
    assert format_deadline(resolve_deadline("00:30", now=evening)) == "2026-11-27 00:30 UTC"
    assert format_deadline(resolve_deadline("22:50", now=evening)) == "2026-11-27 22:50 UTC"  # already gone today


def _results(folder: Path) -> dict[str, tuple[float, bytes]]:
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.glob("*/results.json")}


NODE = {"Alive": True, "Resources": {"CPU": 16.0, "GPU": 1.0}}


@pytest.mark.parametrize(
    "cpus, gpus, nodes, message",
    [
        (4, 0.5, [NODE], None),
        (4, 0, [{"Alive": True, "Resources": {"CPU": 2.0}}, NODE], None),
        (
            1,
            1,
            [{"Alive": True, "Resources": {"CPU": 2.0}}],
            r"^resources\.gpus: each cell asks for 1 GPU, but the largest Ray node has 0 \(",
        ),
        (1, 2, [NODE, {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 8.0}}], r"^resources\.gpus: .* has 1 \("),
        (
            32,
            0,
            [NODE],
            r"^resources\.cpus: each cell asks for 32 CPUs, but the largest Ray node has 16 \(.*--num-cpus\)$",
        ),
        (
            16,
            1,
            [{"Alive": True, "Resources": {"CPU": 4.0, "GPU": 1.0}}, {"Alive": True, "Resources": {"CPU": 16.0}}],
            r"^resources: .* no Ray node has both",
        ),
    ],
)
def test_a_cell_no_ray_node_can_hold_is_named_with_the_fix(cpus, gpus, nodes, message):
    problem = placement_problem(cpus, gpus, nodes)
    if message is None:
        assert problem is None
    else:
        assert problem is not None and re.search(message, problem), problem


def test_a_sweep_asking_more_than_the_local_ray_has_stops_at_once_with_exit_2(tmp_path):
    """Ray would queue such cells forever, printing nothing: the sweep says so and exits before any work."""
    pytest.importorskip("ray")
    sweep_file = tmp_path / "big.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {**spec_dict(), "overrides": [f"bc.pool_dir={tmp_path / 'pool'}"], "resources": {"cpus": 1, "gpus": 64}}
        )
    )
    runs = tmp_path / "runs"
    started = time.time()
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "sweep.py"),
            str(sweep_file),
            "--runs-root",
            str(runs),
            "--no-progress",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("error: resources.gpus: each cell asks for 64 GPU, but the largest Ray node has")
    ), done.stderr
    assert not runs.exists() and not (tmp_path / "pool").exists()  # nothing written, no pool generated
    assert time.time() - started < 200


def test_sweep_on_local_ray_is_interrupted_then_resumed_without_rerunning_finished_cells(tmp_path):
    pytest.importorskip("ray")
    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(
        yaml.safe_dump(
            {
                "trainer": "bc",
                "experiment": "tiny",
                "grid": [
                    {"method": ["scratch", "features"], "run.device": ["cpu"]},
                    {"method": ["scratch"], "run.device": ["cuda"]},  # fails at run time without CUDA
                ],
                "overrides": [
                    "env.resolution=32",
                    "env.max_steps=20",
                    "policy.base=random",
                    "bc.trajectories=8",
                    f"bc.pool_dir={tmp_path / 'pool'}",
                    "bc.shard_size=5",
                    "bc.generate_envs=4",
                    "bc.epochs=1",
                    "bc.val_fraction=0.25",
                    "eval.episodes_per_building=1",
                ],
                "resources": {"cpus": 1},
            }
        )
    )
    # one cell at a time: when the first results.json appears other cells are still to run, so the interrupt
    # always lands mid-sweep (with two workers both CPU cells could finish together and the sweep end first)
    command = [
        sys.executable,
        str(ROOT / "scripts" / "sweep.py"),
        str(sweep_file),
        "--num-cpus",
        "1",
        "--runs-root",
        str(tmp_path / "runs"),
        "--no-progress",
    ]
    folder = tmp_path / "runs" / "tiny"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    # a shell that starts the suite in the background (`... &`) hands its children SIGINT ignored, and Python keeps
    # an ignored SIGINT: restore the default so the interrupt below reaches the sweep however the suite was started
    first = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 240
    while not _results(folder) and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 130, out
    finished = _results(folder)
    assert finished, out  # at least one cell finished before the interruption
    report = json.loads((folder / "sweep.json").read_text())
    assert {c["cell"] for c in report["cells"] if c["status"] == "done"} >= set(finished)
    assert "interrupted" in out and "run the same command again to resume" in out

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    cuda = torch.cuda.is_available()
    assert second.returncode == (0 if cuda else 1), second.stdout + second.stderr  # without CUDA the cuda cells fail
    assert f"{len(finished)} finished earlier (skipped)" in second.stdout
    after = _results(folder)
    for name, (mtime, content) in finished.items():
        assert after[name] == (mtime, content), f"{name} was rerun"
    on_cpu = {"scratch-device_cpu", "features-device_cpu"}
    assert set(after) == (on_cpu | {"scratch-device_cuda"} if cuda else on_cpu)
    cells = {c["cell"]: c for c in json.loads((folder / "sweep.json").read_text())["cells"]}
    assert all(cells[name]["skipped"] for name in finished)
    if not cuda:
        failed = cells["scratch-device_cuda"]
        assert failed["status"] == "failed", failed
        assert failed["reason"].startswith("error: run.device: cuda was asked for but CUDA is not available")
        assert "exit code 2" in failed["reason"]
    table = (folder / "sweep.md").read_text()
    assert "bc features base=random data=8 traj" in table and "FAILED" in table or cuda
    assert (folder / "plots" / "bc_vs_trajectories.png").is_file()
