"""Multi-GPU placement, checked on the CPU as pure functions of LOCAL_RANK, CUDA's presence and what EGL and Ray
report: habitat-sim renders on each rank's GPU, DD-PPO under the habitat-baselines plugin uses NCCL with CUDA and
gloo without, and a sweep cell gets the GPUs its sweep asks for or fails in one line when they are hidden."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from agents.sweeps import sweep
from agents.sweeps.sweep import Cell, SweepSpec, hidden_gpu_problem
from agents.trainers.distributed import ddppo_backend, process_group_backend
from envs.habitat import sim_config
from envs.habitat.sim_config import gpu_device_id_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "environ,cuda,egl,expected",
    [
        ({}, False, None, -1),  # no CUDA: any EGL device
        ({"LOCAL_RANK": "2"}, False, [0, 1, 2], -1),
        ({}, True, [0], 0),  # one process: the first GPU
        ({"LOCAL_RANK": "3"}, True, [0, 1, 2, 3], 3),  # torchrun rank 3: its own GPU
        ({"LOCAL_RANK": "1"}, True, None, 1),  # EGL not queryable: trust LOCAL_RANK
    ],
)
def test_habitat_sims_gpu_follows_local_rank(environ, cuda, egl, expected):
    assert gpu_device_id_for(environ, cuda, egl) == (expected, None)


@pytest.mark.parametrize("egl", [[], [0]])
def test_habitat_sim_falls_back_to_any_egl_device_with_a_warning(egl):
    device_id, warning = gpu_device_id_for({"LOCAL_RANK": "1"}, True, egl)
    assert device_id == -1
    assert warning.startswith("warning: habitat-sim: EGL offers no CUDA device 1")
    assert "EGL device -1" in warning and "\n" not in warning


def test_the_fallback_warns_once_per_process(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(sim_config, "egl_cuda_device_ids", lambda: [0])
    monkeypatch.setenv("LOCAL_RANK", "1")
    sim_config.default_gpu_device_id.cache_clear()
    try:
        assert [sim_config.default_gpu_device_id() for _ in range(3)] == [-1, -1, -1]
    finally:
        sim_config.default_gpu_device_id.cache_clear()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: habitat-sim: EGL offers no CUDA device 1")


def test_egl_probe_reports_ids_or_none_without_failing():
    ids = sim_config.egl_cuda_device_ids()
    assert ids is None or all(isinstance(i, int) and i >= 0 for i in ids)
    if not torch.cuda.is_available():
        assert not ids  # no CUDA device behind any EGL device here


def test_process_groups_use_nccl_with_cuda_and_gloo_without():
    assert process_group_backend(True) == "nccl" and process_group_backend(False) == "gloo"
    assert ddppo_backend("AUTO", True) == "NCCL" and ddppo_backend("auto", False) == "GLOO"
    assert ddppo_backend("GLOO", True) == "GLOO"  # a backend the user wrote stays


def test_the_plugins_config_leaves_the_backend_to_cuda():
    config = yaml.safe_load((ROOT / "sidetune_habitat_baselines" / "config" / "sidetune_pointnav.yaml").read_text())
    backend = config["habitat_baselines"]["rl"]["ddppo"]["distrib_backend"]
    assert ddppo_backend(backend, True) == "NCCL" and ddppo_backend(backend, False) == "GLOO"


def _cfg(device: str, render: str = "cpu") -> SimpleNamespace:
    return SimpleNamespace(run=SimpleNamespace(device=device), env=SimpleNamespace(render_device=render))


@pytest.mark.parametrize(
    "cell_gpus,cfg,cluster_gpus,fails",
    [
        (0, _cfg("cuda"), 2, True),
        (0, _cfg("auto"), 2, True),  # would train on the CPU unsaid
        (0, _cfg("cpu", "cuda"), 1, True),
        (0, _cfg("cpu"), 2, False),
        (0, _cfg("auto"), 0, False),  # no GPU to hide: auto is the CPU anyway
        (0, _cfg("cuda"), 0, False),  # the cell's own "CUDA is not available" says it
        (0.5, _cfg("cuda"), 1, False),
    ],
)
def test_a_cell_that_wants_a_hidden_gpu_fails_in_one_line(cell_gpus, cfg, cluster_gpus, fails):
    problem = hidden_gpu_problem(cell_gpus, cfg, cluster_gpus)
    assert (problem is not None) is fails
    if fails:
        assert problem.startswith("error: resources.gpus: 0 hides the cluster's") and "\n" not in problem
        assert "gpus: 0.5" in problem  # the fix


class FakeRay:
    """What _run_on_ray asks of Ray: the task options, the cells submitted, a cluster with ``gpus`` GPUs."""

    def __init__(self, gpus: float):
        self.gpus, self.options, self.submitted = gpus, {}, []

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 4.0, "GPU": self.gpus}

    def remote(self, fn):
        ray = self

        class Task:
            def options(self, **options):
                ray.options = options
                return self

            def remote(self, spec, cell, *args):
                ray.submitted.append(cell.name)
                return cell.name

        return Task()

    def wait(self, refs, num_returns=1):
        return refs[:1], refs[1:]

    def get(self, ref):
        return {"status": "done", "reason": "", "seconds": 1.0}


@pytest.mark.parametrize("gpus", [0.0, 0.5])
def test_sweep_cells_get_the_gpus_the_sweep_asks_for(tmp_path, gpus):
    spec = SweepSpec("ppo", "grid", [{"run.device": ["cpu", "auto"]}], gpus=gpus, runs_root=tmp_path)
    cells = [Cell(name, {}, [], tmp_path / "grid" / name) for name in ("on-cpu", "on-auto")]
    configs = {"on-cpu": _cfg("cpu"), "on-auto": _cfg("auto")}
    ray, outcomes, lines = FakeRay(gpus=2), {}, []
    sweep._run_on_ray(ray, spec, cells, outcomes, None, False, lines.append, configs)
    assert ray.options["num_gpus"] == gpus  # Ray gives each task that share of a GPU (CUDA_VISIBLE_DEVICES)
    if gpus:
        assert ray.submitted == ["on-cpu", "on-auto"]
        assert {name: o["status"] for name, o in outcomes.items()} == {"on-cpu": "done", "on-auto": "done"}
    else:  # the auto cell would have trained on the CPU: it fails without running, the CPU cell runs
        assert ray.submitted == ["on-cpu"]
        assert outcomes["on-auto"]["status"] == "failed"
        assert outcomes["on-auto"]["reason"].startswith("error: resources.gpus: 0 hides the cluster's 2 GPUs")
        assert any(line.startswith("on-auto: failed: error: resources.gpus") for line in lines)
