"""Experiment sweeps on Ray: a sweep file's grid of trainer runs, one Ray task per cell, resumable (docs/scaling.md).

A sweep file (YAML, e.g. ``sweeps/bc_grid.yaml``) names the trainer (bc | ppo | pretrain), the grid (axes such
as method, base, data size and seed, or any dotted config key, each with its values), overrides for every
cell and the resources of one cell. Each cell runs the trainer's own script in a subprocess on a Ray worker
and writes the folder that script writes anyway, ``<runs_root>/<experiment>/<cell>``. A cell whose folder
holds its done file (results.json; encoder.json for pretraining) is skipped, one with a checkpoint is
resumed (``--resume``), so an interrupted sweep continues where it stopped. A failed cell is reported with
its reason and never stops the others. The driver writes ``sweep.json``, ``sweep.md`` (the evaluation
report's table, agents/evaluation/eval_report.py) and the plots (agents/evaluation/results_plots.py) at the end.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.evaluation.run_folder import ABANDONED  # cells of interrupted runs that had no checkpoint to resume from
from agents.run.run_dir import RunDir
from agents.run.trainers import TrainerSpec, trainer_names, trainer_spec
from common.atomic_io import check_writable
from common.config import did_you_mean
from common.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
LOGS = "sweep_logs"  # beside the cell folders: <experiment>/sweep_logs/<cell>.log


class SweepError(UserError, ValueError):
    """A sweep file or flag that cannot be used; the message is ``<field>: <problem> (<fix>)``."""


NAME_ORDER = ("task", "arch", "method", "base", "trajectories", "frames")  # then other axes, then the seed
SPEC_KEYS = ("trainer", "experiment", "grid", "overrides", "resources", "config", "runs_root")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: which trainer, the grid axes in file order, per-cell overrides and resources."""

    trainer: str
    experiment: str
    grid: list[dict[str, list[Any]]]  # one or more grids (a sweep's cells are the union of their products)
    overrides: list[str] = field(default_factory=list)
    cpus: float = 1.0
    gpus: float = 0.0
    config: str | None = None
    runs_root: Path = Path("runs")

    @property
    def folder(self) -> Path:
        return self.runs_root / self.experiment

    @property
    def engine(self) -> TrainerSpec:
        return trainer_spec(self.trainer)


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its folder name, its axis values and the ``key=value`` overrides they become."""

    name: str
    values: dict[str, Any]
    overrides: list[str]
    folder: Path

    def done(self, trainer: TrainerSpec) -> bool:
        return (self.folder / trainer.done_file).is_file()

    def resumable(self, trainer: TrainerSpec) -> bool:
        return trainer.checkpoint is not None and (self.folder / trainer.checkpoint).is_file()

    def writer(self) -> str | None:
        """The pid of another live process running this cell now (another sweep, a hand-started run), else None."""
        return RunDir(self.folder).writer() if self.folder.exists() else None


def _fail(field_name: str, problem: str, fix: str) -> SweepError:
    return SweepError(f"{field_name}: {problem} ({fix})")


def sweep_from_dict(data: Any, runs_root: str | Path | None = None, base_dir: Path | None = None) -> SweepSpec:
    """Check a sweep file's content and return the spec; ``runs_root`` (a flag) wins over the file's."""
    if not isinstance(data, dict):
        raise _fail("sweep file", "must hold a mapping", "see sweeps/bc_grid.yaml")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    if unknown:
        raise _fail(unknown[0], "unknown key", f"valid keys: {', '.join(SPEC_KEYS)}")
    trainer = data.get("trainer")
    sweepable = [name for name in trainer_names() if trainer_spec(name).script]
    if trainer not in sweepable:
        hint = did_you_mean(trainer, sweepable) if isinstance(trainer, str) else ""
        raise _fail("trainer", f"{trainer!r} is unknown", f"{hint}use one of {', '.join(sweepable)}")
    experiment = str(data.get("experiment") or "")
    parts = experiment.split("/")
    if not all(re.fullmatch(r"[A-Za-z0-9._-]+", p) and p not in (".", "..") for p in parts):
        raise _fail(
            "experiment",
            f"{experiment!r} is not a folder name",
            "letters, digits, '.', '_', '-', and '/' between folders",
        )
    grids = data.get("grid")
    grids = grids if isinstance(grids, list) else [grids]
    if not all(isinstance(g, dict) and g for g in grids):
        raise _fail(
            "grid",
            "missing or empty",
            "map each axis to a list of values, e.g. method: [features, sidetune], or give a list of such maps",
        )
    axes = trainer_spec(trainer).axes
    clean: list[dict[str, list[Any]]] = []
    for grid in grids:
        clean.append({})
        for axis, values in grid.items():
            if axis not in axes and "." not in str(axis):
                raise _fail(
                    f"grid.{axis}",
                    f"unknown axis for trainer {trainer}",
                    f"use {', '.join(axes)} or a dotted config key",
                )
            values = values if isinstance(values, list) else [values]
            if not values or len({json.dumps(v, sort_keys=True, default=str) for v in values}) != len(values):
                raise _fail(f"grid.{axis}", "needs at least one value and no repeats", f"got {values!r}")
            clean[-1][str(axis)] = values
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list) or any(not isinstance(o, str) or "=" not in o for o in overrides):
        raise _fail("overrides", "must be a list of key=value strings", "e.g. [bc.threads=1, env.resolution=64]")
    resources = data.get("resources") or {}
    if not isinstance(resources, dict) or set(resources) - {"cpus", "gpus"}:
        raise _fail("resources", f"{resources!r} is not understood", "use {cpus: 1, gpus: 0} (per cell)")
    cpus, gpus = resources.get("cpus", 1), resources.get("gpus", 0)
    for key, value, low in (("cpus", cpus, 1e-9), ("gpus", gpus, 0.0)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < low:
            raise _fail(
                f"resources.{key}",
                f"{value!r} must be a number >= {0 if low == 0 else '> 0'}",
                "e.g. cpus: 1, gpus: 0.5",
            )
    config = data.get("config")
    if config is not None:
        config_path = Path(str(config))
        if not config_path.is_absolute() and base_dir is not None and not config_path.exists():
            config_path = base_dir / config_path
        if not config_path.is_file():
            raise _fail("config", f"{config} does not exist", "give a YAML file relative to the working directory")
        config = str(config_path.resolve())
    root = Path(runs_root if runs_root is not None else data.get("runs_root") or "runs").expanduser().resolve()
    return SweepSpec(trainer, experiment, clean, list(overrides), float(cpus), float(gpus), config, root)


def load_sweep(path: str | Path, runs_root: str | Path | None = None) -> SweepSpec:
    """Read and check a sweep file (YAML)."""
    path = Path(path)
    if not path.is_file():
        raise _fail("sweep file", f"{path} does not exist", "pass a file such as sweeps/bc_grid.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise _fail("sweep file", f"{path} is not valid YAML ({str(err).splitlines()[0]})", "fix the file") from None
    return sweep_from_dict(data, runs_root, path.parent)


def _name_part(axis: str, value: Any) -> str:
    """How one axis value appears in a cell name: ``sidetune``, ``490``, ``seed1``, ``merge_sum``, a base file's
    stem."""
    text = str(value)
    if axis == "base" and ("/" in text or text.endswith((".pth", ".pt"))):
        text = Path(text).stem
    text = re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "_"
    if axis == "seed":
        return f"seed{text}"
    if axis in NAME_ORDER:
        return text
    return f"{axis.rsplit('.', 1)[-1]}_{text}"


def cell_name(values: Mapping[str, Any]) -> str:
    """The deterministic folder name of a cell: method, base, data size, other axes, then ``seed<s>`` (omitted
    for seed 0), joined by '-' (``sidetune-490``, ``features-49-seed1``: the names scripts/experiments/bc_grid.py
    always used)."""
    ordered = [a for a in NAME_ORDER if a in values] + [a for a in values if a not in NAME_ORDER and a != "seed"]
    parts = [_name_part(a, values[a]) for a in ordered]
    if "seed" in values and str(values["seed"]) != "0":
        parts.append(_name_part("seed", values["seed"]))
    return "-".join(parts) or "run"


def expand(spec: SweepSpec) -> list[Cell]:
    """Every cell of the grid (of each grid in turn, when the file lists several), first axis outermost (so with
    data size first, whatever finishes first is a complete column); two cells with one folder name are an error."""
    cells: list[Cell] = []
    combos: list[dict[str, Any]] = []
    for grid in spec.grid:
        product: list[dict[str, Any]] = [{}]
        for axis, values in grid.items():
            product = [{**c, axis: v} for c in product for v in values]
        combos.extend(product)
    seen: dict[str, dict[str, Any]] = {}
    for values in combos:
        name = cell_name(values)
        if name in seen:
            raise _fail(
                "grid",
                f"cells {seen[name]} and {values} would share the folder {name}",
                "make the values' names differ",
            )
        seen[name] = values
        keys = spec.engine.axes
        overrides = [f"{keys.get(a, a)}={_override_value(v)}" for a, v in values.items()]
        cells.append(Cell(name, values, overrides, spec.folder / name))
    return cells


def _override_value(value: Any) -> str:
    """A value as the right-hand side of a ``key=value`` override (lists and mappings as JSON/YAML flow)."""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def cell_overrides(spec: SweepSpec, cell: Cell) -> list[str]:
    """All ``key=value`` pairs of a cell: the sweep's overrides, its axis values, and where its run folder goes."""
    if spec.engine.output_key:  # a job that writes one file (pretraining: the encoder) into the cell's folder
        where = [f"{spec.engine.output_key}={cell.folder / 'encoder.pth'}"]
    else:
        # the experiment's last folder is run.experiment, the folders above it run.runs_root (nested experiments)
        where = [f"run.runs_root={spec.folder.parent}", f"run.experiment={spec.folder.name}", f"run.name={cell.name}"]
    return [*spec.overrides, *cell.overrides, *where]


def cell_config(spec: SweepSpec, cell: Cell) -> Any:
    """The cell's typed, checked RunConfig (what its script will resolve), so bad input fails before anything runs."""
    from agents.run.config_loader import load_run_config

    return load_run_config(spec.engine.preset, spec.config, None, cell_overrides(spec, cell), spec.engine.sections)


def cuda_wish(cfg: Any) -> str | None:
    """Why a cell's config would use a GPU where one is visible (``run.device=cuda`` or ``auto``,
    ``env.render_device=cuda``); None when it runs on the CPU."""
    run, env = getattr(cfg, "run", None), getattr(cfg, "env", None)
    if run is not None and (str(run.device).startswith("cuda") or run.device == "auto"):
        return f"run.device={run.device}"
    if env is not None and env.render_device == "cuda":
        return "env.render_device=cuda"
    return None


def hidden_gpu_problem(cell_gpus: float, cfg: Any, cluster_gpus: float) -> str | None:
    """The one line a cell fails with, without running, when the sweep gives it no GPU (resources.gpus: 0: Ray
    hides the GPUs from such a task, CUDA_VISIBLE_DEVICES="") although the cluster has some and the cell's config
    wants one (`cuda_wish`): run.device=cuda would fail inside the cell, and auto would train on the CPU unsaid.
    None when the cell gets the GPUs it asks for, or there are none to hide."""
    if cell_gpus > 0 or cluster_gpus <= 0:
        return None
    why = cuda_wish(cfg)
    if why is None:
        return None
    return (
        f"error: resources.gpus: 0 hides the cluster's {cluster_gpus:g} GPUs from this cell, yet it wants CUDA "
        f"({why}) (give each cell a GPU or a share of one, e.g. resources: {{cpus: 4, gpus: 0.5}}, or set "
        "run.device=cpu)"
    )


def emulated_bf16_cells(configs: Sequence[Any]) -> str | None:
    """The warning for cells that force bfloat16 where this machine emulates it (policies/precision.py), said once
    before a sweep starts them, since each cell would say it only in its own log; None when no cell does."""
    import torch

    from policies.precision import emulated_bf16_warning

    lines = []
    for cfg in configs:
        policy, run = getattr(cfg, "policy", None), getattr(cfg, "run", None)
        if policy is None:
            continue  # a trainer without a policy (e.g. pretraining a base)
        device = "cuda" if run is not None and run.device != "cpu" and torch.cuda.is_available() else "cpu"
        lines.append(emulated_bf16_warning(policy.base_precision, policy.train_precision, device))
    forced = [line for line in lines if line]
    return f"{forced[0]} ({len(forced)} of {len(configs)} cells to run)" if forced else None


def cell_command(spec: SweepSpec, cell: Cell, python: str = sys.executable) -> list[str]:
    """The command that runs (or resumes) the cell: the trainer's own script with the cell's overrides."""
    trainer = spec.engine
    command = [python, str(ROOT / trainer.script), *trainer.extra_args]
    if spec.config:
        command += ["--config", spec.config]
    if cell.resumable(trainer):
        command += ["--resume", str(cell.folder)]
    return command + cell_overrides(spec, cell)


def set_aside(spec: SweepSpec, cell: Cell) -> Path | None:
    """Move an unfinished cell folder that cannot be resumed (no checkpoint yet) out of the way, so the cell
    starts afresh; nothing is deleted. Returns where it went (None: nothing to move)."""
    if not cell.folder.exists() or cell.done(spec.engine) or cell.resumable(spec.engine) or cell.writer():
        return None  # a folder another process is writing is never moved from under it
    target = spec.folder / ABANDONED / f"{cell.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{cell.name}-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    target.parent.mkdir(parents=True, exist_ok=True)
    cell.folder.rename(target)
    return target


def prepare_data(spec: SweepSpec, cells: Sequence[Cell], progress: bool = True) -> None:
    """Make the shared inputs once before cells start (BC: each trajectory pool up to its largest N), so
    parallel cells never race to write them."""
    if spec.trainer != "bc" or not cells:
        return
    from agents.trainers.bc import check_pool, pool_dir_of

    largest: dict[Path, tuple[int, Any]] = {}
    for cell in cells:
        cfg = cell_config(spec, cell)
        root = pool_dir_of(cfg.bc, cfg.env)
        n = cfg.bc.trajectories
        if root not in largest or n > largest[root][0]:
            largest[root] = (n, cfg)
    for _n, cfg in largest.values():
        check_pool(cfg, progress=progress)


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM it when the Ray worker running it dies (a cancelled sweep)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def failure_reason(log_path: Path, code: int) -> str:
    """Why a cell's script failed: its ``error:`` line, else the last line it printed, with the exit code."""
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if line.startswith("error:")]
    last = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"{last} (exit code {code}; log {log_path})"


def resolve_deadline(hhmm: str, now: float | None = None) -> float:
    """The next ``HH:MM`` UTC after ``now`` (epoch seconds): today's if it is still ahead, else tomorrow's, so a
    deadline past midnight (``--deadline 00:30`` at 22:50) means the coming night, not a time already gone."""
    now = time.time() if now is None else now
    hours, minutes = (int(part) for part in hhmm.split(":"))
    day = datetime.datetime.fromtimestamp(now, datetime.UTC).replace(
        hour=hours, minute=minutes, second=0, microsecond=0
    )
    candidate = day.timestamp()
    return candidate if candidate > now else candidate + 86400.0


def format_deadline(deadline: float) -> str:
    """``YYYY-MM-DD HH:MM UTC`` of an epoch-seconds deadline, for messages."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(deadline))


def run_cell(
    command: list[str],
    done_path: str,
    log_path: str,
    threads: int,
    cwd: str | None = None,
) -> dict[str, Any]:
    """Run one cell's command to the end (start_cell, the Ray task, calls it) in ``cwd`` (the driver's working
    directory, so relative paths such as data/trajectories mean the same to both); returns its status, reason and
    seconds."""
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[key] = str(threads)  # the cell's CPUs, not every core of the node
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(
            f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC on {os.uname().nodename}: {' '.join(command)}\n"
        )
        out.flush()
        code = subprocess.call(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent
        )
    seconds = time.perf_counter() - started
    if code != 0:
        return {"status": "failed", "reason": failure_reason(log, code), "seconds": seconds}
    if not Path(done_path).is_file():
        return {"status": "failed", "reason": f"exited 0 but wrote no {done_path} (log {log})", "seconds": seconds}
    return {"status": "done", "reason": "", "seconds": seconds}


def start_cell(
    spec: SweepSpec,
    cell: Cell,
    log_path: str,
    threads: int,
    deadline: float | None = None,
    cwd: str | None = None,
) -> dict[str, Any]:
    """The Ray task: decide what the cell needs when a worker takes it, not when it was queued, then run it.

    Cells wait in Ray's queue for hours, and two sweeps of one file (one per core) queue the same cells: by the
    time a worker takes one, another process may have finished it, be running it, or have left a checkpoint. So
    the done file, the folder's live writer, setting an unresumable folder aside and ``--resume`` are all decided
    here, at the start. ``deadline`` (epoch seconds, resolve_deadline): the cell does not start at or after it."""
    if deadline is not None and time.time() >= deadline:
        return {"status": "not started", "reason": f"deadline {format_deadline(deadline)} had passed", "seconds": 0.0}
    if cell.done(spec.engine):
        return {"status": "done", "skipped": True, "reason": "", "seconds": 0.0, "note": "finished elsewhere meanwhile"}
    pid = cell.writer()
    if pid is not None:
        return {"status": "not started", "reason": _elsewhere(pid), "seconds": 0.0}
    moved = set_aside(spec, cell)
    note = (
        f"unfinished folder without a checkpoint moved to {moved}; started afresh"
        if moved
        else "resumed from its checkpoint"
        if cell.resumable(spec.engine)
        else ""
    )
    outcome = run_cell(cell_command(spec, cell), str(cell.folder / spec.engine.done_file), log_path, threads, cwd)
    pid = cell.writer()
    if outcome["status"] == "failed" and pid is not None:  # another process took the folder's lock first
        return {"status": "not started", "reason": _elsewhere(pid), "seconds": 0.0}
    return {**outcome, "note": note} if note else outcome


def _elsewhere(pid: str) -> str:
    return f"another process (pid {pid}) is running it; run this sweep again once that ends"


def placement_problem(cpus: float, gpus: float, nodes: Sequence[Mapping[str, Any]]) -> str | None:
    """Why no live Ray node can hold one cell (``resources`` per cell against each node's CPUs and GPUs, as
    ``ray.nodes()`` lists them), as ``<field>: <problem> (<fix>)``; None when one can. Ray would queue such a
    task forever without a word."""
    alive = [node.get("Resources") or {} for node in nodes if node.get("Alive", True)]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in alive):
        return None
    most_cpus = max((r.get("CPU", 0) for r in alive), default=0)
    most_gpus = max((r.get("GPU", 0) for r in alive), default=0)
    if gpus > most_gpus:
        return (
            f"resources.gpus: each cell asks for {gpus:g} GPU, but the largest Ray node has {most_gpus:g} (run it "
            "where there are GPUs, or set resources.gpus: 0 with run.device=cpu)"
        )
    if cpus > most_cpus:
        return (
            f"resources.cpus: each cell asks for {cpus:g} CPUs, but the largest Ray node has {most_cpus:g} (lower "
            "resources.cpus, or give a local Ray more with --num-cpus)"
        )
    return (
        f"resources: each cell asks for {cpus:g} CPUs and {gpus:g} GPU together, but no Ray node has both (lower "
        "resources.cpus, or run it on larger nodes)"
    )


def start_ray(address: str | None, num_cpus: float | None, num_gpus: float | None) -> Any:
    """Connect to the cluster at ``address``, or start a local Ray (this machine's cores unless ``num_cpus``)."""
    try:
        import ray
    except ImportError:
        raise _fail("ray", "is not installed", "pip install -e '.[cluster]'") from None
    if address and (num_cpus is not None or num_gpus is not None):
        raise _fail(
            "--num-cpus/--num-gpus", "only size a local Ray", "drop them with --address; the cluster has its own"
        )
    # The task function travels by value: workers need Python and Ray, not this package (nor the right copy of
    # it) on their import path; the subprocess runs the trainer script from this checkout's path.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        from agents.sweeps.ray_reaper import start_reaper

        start_reaper(os.getpid())  # a killed driver's local Ray processes end with it (ray.shutdown never runs)
        ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False)
    return ray


def run_sweep(
    spec: SweepSpec,
    address: str | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    deadline: float | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run every unfinished cell as a Ray task and write the report; returns one outcome per cell. No cell starts
    at or after ``deadline`` (epoch seconds, resolve_deadline)."""
    cells = expand(spec)
    configs = {cell.name: cell_config(spec, cell) for cell in cells}  # every cell's config resolves, or nothing starts
    check_writable(spec.folder, "--runs-root")  # the cells' folders, their logs and the report go there
    unfinished = [c for c in cells if not c.done(spec.engine)]
    outcomes: dict[str, dict[str, Any]] = {
        c.name: {"status": "done", "skipped": True, "reason": "", "seconds": 0.0} for c in cells if c not in unfinished
    }
    for cell in unfinished:  # running elsewhere: not started twice, not moved aside
        pid = cell.writer()
        if pid is not None:
            outcomes[cell.name] = {"status": "not started", "skipped": False, "reason": _elsewhere(pid), "seconds": 0.0}
            log(f"{cell.name}: not started: {_elsewhere(pid)}")
    todo = [c for c in unfinished if c.name not in outcomes]
    log(
        f"sweep {spec.experiment}: {len(cells)} cells, {len(cells) - len(unfinished)} finished earlier (skipped), "
        + (f"{len(unfinished) - len(todo)} running elsewhere, " if len(todo) < len(unfinished) else "")
        + f"{len(todo)} to run"
        + (f"; no cell starts after {format_deadline(deadline)}" if deadline is not None else "")
    )
    emulated = emulated_bf16_cells([configs[c.name] for c in todo])
    if emulated:
        log(f"sweep {spec.experiment}: {emulated}")
    started = time.perf_counter()
    interrupted = False
    if todo:
        ray = start_ray(address, num_cpus, num_gpus)
        try:
            problem = placement_problem(spec.cpus, spec.gpus, ray.nodes())
            if problem and not address:  # a local Ray never grows: its tasks would wait forever, unsaid
                raise SweepError(problem)
            if problem:
                log(f"sweep {spec.experiment}: warning: {problem}; its cells wait until the cluster has such a node")
            prepare_data(spec, todo, progress)
            _run_on_ray(ray, spec, todo, outcomes, deadline, progress, log, configs)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            ray.shutdown()
    wall = time.perf_counter() - started
    unreported = {"status": "interrupted", "reason": "the sweep stopped before it ended", "skipped": False}
    finished_elsewhere = {"status": "done", "skipped": True, "reason": "", "seconds": 0.0}
    for c in cells:  # left to another process, which has finished it by now: the report says done, not "not started"
        if outcomes.get(c.name, {}).get("status") == "not started" and c.done(spec.engine):
            outcomes[c.name] = finished_elsewhere
    ordered = [
        {
            "cell": c.name,
            "axes": c.values,
            "folder": str(c.folder),
            **outcomes.get(
                c.name, {**unreported, "status": "done", "reason": ""} if c.done(spec.engine) else unreported
            ),
        }
        for c in cells
    ]
    from agents.sweeps.sweep_report import write_report

    for path in write_report(spec, ordered, wall):
        log(f"wrote {path}")
    if interrupted:
        raise KeyboardInterrupt
    return ordered


def _run_on_ray(
    ray: Any,
    spec: SweepSpec,
    todo: Sequence[Cell],
    outcomes: dict[str, dict[str, Any]],
    deadline: float | None,
    progress: bool,
    log: Callable[[str], None],
    configs: Mapping[str, Any] | None = None,
) -> None:
    """Submit one task per cell, each with the GPUs the sweep's resources ask for, collect results as they finish
    (a tqdm bar), cancel the rest on Ctrl-C. A cell that wants a GPU the sweep hides fails at once
    (`hidden_gpu_problem`; ``configs``: the cells' RunConfigs by name)."""
    from tqdm.auto import tqdm

    task = ray.remote(start_cell).options(num_cpus=spec.cpus, num_gpus=spec.gpus, max_retries=0)
    threads = max(1, math.ceil(spec.cpus))
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    pending: dict[Any, Cell] = {}
    for cell in todo:  # what each cell needs (resume, set aside, skip) is decided when it starts: start_cell
        problem = hidden_gpu_problem(spec.gpus, (configs or {}).get(cell.name), cluster_gpus)
        if problem:
            outcomes[cell.name] = {"skipped": False, "status": "failed", "reason": problem, "seconds": 0.0}
            log(f"{cell.name}: failed: {problem}")
            continue
        log_path = spec.folder / LOGS / f"{cell.name}.log"
        pending[task.remote(spec, cell, str(log_path), threads, deadline, os.getcwd())] = cell
    bar = tqdm(total=len(pending), desc=f"sweep {spec.experiment}", unit="cell", disable=not progress)
    failed = 0
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            cell = pending.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
            except Exception as err:  # the worker died or Ray failed the task: that cell only
                outcome = {
                    "status": "failed",
                    "reason": f"Ray task failed: {str(err).strip().splitlines()[-1]}",
                    "seconds": 0.0,
                }
            note = outcome.pop("note", "")
            outcomes[cell.name] = {"skipped": False, **outcome}
            failed += outcome["status"] != "done"
            bar.update(1)
            bar.set_postfix(failed=failed)
            line = (
                f"{cell.name}: {outcome['status']} in {outcome['seconds']:.0f} s"
                + (f" ({note})" if note else "")
                + (f": {outcome['reason']}" if outcome["reason"] else "")
            )
            (bar.write if progress else log)(line)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        log(
            f"interrupted: {len(pending)} cells cancelled; run the same command again to resume "
            "(finished cells are skipped)"
        )
        raise
    finally:
        bar.close()
