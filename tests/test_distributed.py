"""Data parallelism under torchrun: two gloo ranks train BC and PPO (each interrupted and resumed) and must hold
identical parameters after every update while the loss goes down; a world of one changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.run.model_builder import load_model
from agents.trainers.distributed import Distributed, context

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[list[dict], Path]:
    """tests/distributed_worker.py run once by ``torchrun --nproc-per-node 2`` (gloo, one thread per rank)."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(ROOT / "tests" / "distributed_worker.py"),
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)], out


def test_bc_ranks_stay_identical_through_an_interruption_and_the_loss_goes_down(ranks):
    (r0, r1), out = ranks
    assert r0["world_size"] == r1["world_size"] == 2 and r0["bc_interrupted"] and r1["bc_interrupted"]
    assert torch.equal(r0["bc_params"], r1["bc_params"])
    losses = [h["train_loss"] for h in r0["bc_history"]]
    assert [h["epoch"] for h in r0["bc_history"]] == [1, 2, 3] and losses[2] < losses[0], losses
    runs = list((out / "runs" / "bc").iterdir())
    assert [str(r) for r in runs] == [r0["bc_run"]] == [r1["bc_run"]]  # one run folder, made by rank 0
    saved = load_model(runs[0] / "checkpoints" / "last.zip", device="cpu").policy
    assert torch.equal(torch.cat([p.detach().flatten() for p in saved.parameters()]), r0["bc_params"])
    assert (runs[0] / "results.json").is_file()


def test_ppo_ranks_collect_their_own_rollouts_and_share_every_update(ranks):
    (r0, r1), out = ranks
    assert r0["ppo_interrupted"] and r1["ppo_interrupted"]
    assert len(r0["ppo_params"]) == len(r1["ppo_params"]) == 2  # one update before the interruption, one after
    for a, b in zip(r0["ppo_params"], r1["ppo_params"], strict=False):
        assert torch.equal(a, b)
    assert not torch.equal(r0["ppo_params"][0], r0["ppo_params"][1])
    for (before0, after0), (before1, after1) in zip(r0["ppo_losses"], r1["ppo_losses"], strict=False):
        assert before0 != before1  # different envs and episodes on each rank
        assert after0 + after1 < before0 + before1  # the averaged update lowers the loss on the ranks' data
    assert r0["ppo_frames"] == 128 and r0["ppo_frames_this_session"] == 64  # frames count both ranks
    assert load_model(Path(r0["ppo_run"]) / "checkpoints" / "last.zip", device="cpu").num_timesteps == 128
    assert sorted(p.name for p in (out / "runs" / "ppo").iterdir()) == sorted([Path(r0["ppo_run"]).name, "limited"])


def test_rank_0s_wall_clock_limit_stops_every_rank_after_the_same_update(ranks):
    (r0, r1), _ = ranks
    assert r0["limited_stopped"] and r1["limited_stopped"]  # both got rank 0's results: nobody hung
    assert r0["limited_frames"] == r1["limited_frames"] and r0["limited_frames"] % 64 == 2  # one step past an update


def test_a_world_of_one_changes_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = Distributed()
    assert not dist.enabled and dist.is_main and context() == dist
    items = np.arange(10)
    assert dist.shard(items) is items and dist.rank_seed(7) == 7 and dist.sum([1.5, 2]) == [1.5, 2]
    module = torch.nn.Linear(2, 2)
    assert dist.wrap(module) is module and dist.average_gradients(module.parameters()) == []
    assert dist.run_on_main(lambda x: x + 1, 1) == 2 and dist.broadcast("x") == "x"


def test_shards_are_disjoint_and_equal_sized():
    items = np.arange(11)
    shards = [Distributed(rank, 3).shard(items) for rank in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert len(set(np.concatenate(shards).tolist())) == 9
