"""Behaviour cloning: trajectory pool (prefixes, re-rendering, bad input), feature cache, BC trainer."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.run.config_loader import load_run_config
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import load_model
from agents.run.run_dir import RunDir
from agents.trainers.bc import attach_cache, batch_tensors, build_context, policy_logits, train_bc, train_epoch
from agents.trainers.bc_data import ObservationBuilder
from agents.trainers.trajectories import GENERATE_LOCK, TrajectoryPool, TrajectoryPoolError, generate_pool
from envs.factory import make_task
from policies.extractor import BASE_FEATURES_KEY
from policies.freeze import unwrap

RES = 32


def bc_config(tmp: Path, *extra: str):
    """A tiny BC config: 32 px, a few trajectories, one short epoch, small held-out evaluation."""
    return load_run_config(
        "bc.yaml",
        None,
        None,
        [
            f"env.resolution={RES}",
            "policy.base=random",
            "bc.trajectories=8",
            f"bc.pool_dir={tmp / 'pool'}",
            "bc.shard_size=5",
            "bc.generate_envs=4",
            "bc.epochs=1",
            "bc.val_fraction=0.25",
            "eval.episodes_per_building=1",
            f"run.runs_root={tmp / 'runs'}",
            "run.device=cpu",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bc")


@pytest.fixture(scope="module")
def pool(tmp) -> TrajectoryPool:
    """A 12-trajectory pool made in two steps (7, then extended to 12) with 5-trajectory shards."""
    env_cfg = bc_config(tmp).env
    generate_pool(env_cfg, tmp / "pool", 7, seed=0, shard_size=5, num_envs=4)
    return generate_pool(env_cfg, tmp / "pool", 12, seed=0, shard_size=5, num_envs=4)


def test_pool_prefixes_are_subsets_and_independent_of_batching(tmp, pool):
    env_cfg = bc_config(tmp).env
    other = generate_pool(env_cfg, tmp / "pool_b", 5, seed=0, shard_size=5, num_envs=3)
    assert pool.num_trajectories == 12 and [s["count"] for s in pool.manifest["shards"]] == [5, 5, 2]
    small, large = other.load(5, auto_stop=True), pool.load(12, auto_stop=True)
    s = small.num_steps
    assert small.episode_ids == large.episode_ids[:5]
    np.testing.assert_array_equal(small.positions, large.positions[:s])
    np.testing.assert_array_equal(small.headings, large.headings[:s])
    np.testing.assert_array_equal(small.actions, large.actions[:s])
    assert small.actions.max() <= 2  # auto_stop: FORWARD/LEFT/RIGHT only
    full = pool.load(12, auto_stop=False)
    assert full.num_steps == large.num_steps + 12  # exactly one final STOP per trajectory dropped
    assert all(full.actions[full.offsets[t + 1] - 1] == 0 for t in range(12))
    different = generate_pool(env_cfg, tmp / "pool_seed1", 3, seed=1, shard_size=5, num_envs=4)
    assert different.load(3, auto_stop=True).episode_ids != large.episode_ids[:3]


def test_a_second_generator_waits_for_the_first_and_makes_nothing(tmp, pool):
    # two sweeps of one file started together both extend the pool: the second waits on its lock, then finds
    # the trajectories there; the lock is taken here by hand, so the wait is seen, not a timing accident
    import fcntl
    import threading

    env_cfg = bc_config(tmp).env
    root = tmp / "pool_locked"
    root.mkdir()
    made: list[TrajectoryPool] = []
    with open(root / GENERATE_LOCK, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: made.append(generate_pool(env_cfg, root, 5, 0, 5, 4)))
        waiter.start()
        waiter.join(timeout=2.0)
        assert waiter.is_alive() and not (root / "manifest.json").exists()  # blocked, nothing written
        shutil.copytree(tmp / "pool", root, dirs_exist_ok=True)  # "the first process" finishes 12 trajectories
    waiter.join(timeout=60)
    assert not waiter.is_alive() and made[0].num_trajectories == 12
    assert sorted(p.name for p in root.glob("shard_*")) == sorted(p.name for p in (tmp / "pool").glob("shard_*"))
    assert (root / "manifest.json").read_bytes() == (tmp / "pool" / "manifest.json").read_bytes()  # not rewritten


def test_rebuilt_observations_equal_the_env_bit_for_bit(tmp, pool):
    env_cfg = bc_config(tmp).env
    data = pool.load(3, auto_stop=True)
    builder = ObservationBuilder(data, env_cfg)
    task = make_task(env_cfg, 1, split="train", seed=0, sampling="sequential")
    by_id = {ep.episode_id: ep for ep in task.episodes}
    for t in range(2):
        task.episodes = [by_id[data.episode_ids[t]]]
        obs = task.reset(seed=0)
        steps = np.arange(data.offsets[t], data.offsets[t + 1])
        rebuilt = builder.batch(steps)
        for k, s in enumerate(steps):
            for key in ("rgb", "map", "target"):
                np.testing.assert_array_equal(rebuilt[key][k], obs[key][0], err_msg=f"trajectory {t} step {k} {key}")
            result = task.step(np.array([data.actions[s]]), autoreset=False)
            obs = result.observations
        assert result.terminated[0] and result.infos[0]["success"] == 1.0  # the env stopped the expert at the goal
    pool.verify_frames(env_cfg)


def test_frame_stacking_matches_zero_padded_stacks(tmp, pool):
    env_cfg = bc_config(tmp).env
    data = pool.load(2, auto_stop=True)
    single, stacked = ObservationBuilder(data, env_cfg, 1), ObservationBuilder(data, env_cfg, 3)
    steps = np.array([0, 1, 5])  # first, second and a later step of trajectory 0
    got = stacked.batch(steps)
    for key in ("rgb", "map", "target"):
        c = single.batch(np.array([0]))[key].shape[1]
        for row, s in enumerate(steps):
            for slot, back in enumerate((2, 1, 0)):
                part = got[key][row, slot * c : (slot + 1) * c]
                want = single.batch(np.array([s - back]))[key][0] if s - back >= 0 else np.zeros_like(part)
                np.testing.assert_array_equal(part, want)


def test_frame_storage_round_trip(tmp):
    env_cfg = bc_config(tmp).env
    stored = generate_pool(env_cfg, tmp / "pool_frames", 2, seed=0, shard_size=5, num_envs=2, storage="frames")
    data = stored.load(2, auto_stop=True)
    steps = np.arange(data.num_steps)
    rerendered = ObservationBuilder(dataclasses.replace(data, frame_files=None), env_cfg).rgb_frames(steps)
    np.testing.assert_array_equal(ObservationBuilder(data, env_cfg).rgb_frames(steps), rerendered)


def test_bad_pools_give_clear_errors(tmp, pool):
    env_cfg = bc_config(tmp).env
    with pytest.raises(
        TrajectoryPoolError, match=r"more than the 12 trajectories.*make_trajectories\.py --trajectories 50"
    ):
        pool.load(50, auto_stop=True)
    with pytest.raises(TrajectoryPoolError, match=r"resolution: pool 32, run 64"):
        pool.check_compatible(dataclasses.replace(env_cfg, resolution=64))
    with pytest.raises(TrajectoryPoolError, match="backend"):
        pool.check_compatible(dataclasses.replace(env_cfg, backend="habitat"))
    broken = tmp / "pool_broken"
    shutil.copytree(tmp / "pool", broken)
    shard = broken / "shard_00001.npz"
    shard.write_bytes(shard.read_bytes()[:-40])  # truncated
    damaged = TrajectoryPool(broken)
    damaged.load(5, auto_stop=True)  # shard 0 alone is intact and enough
    with pytest.raises(TrajectoryPoolError, match=r"shard_00001\.npz is corrupt or truncated"):
        damaged.load(6, auto_stop=True)
    shard.unlink()
    with pytest.raises(TrajectoryPoolError, match=r"shard_00001\.npz is missing"):
        damaged.load(12, auto_stop=True)
    with pytest.raises(TrajectoryPoolError, match="no trajectory pool"):
        TrajectoryPool(tmp / "nowhere")


def test_feature_cache_gives_the_uncached_output(tmp, pool):
    ctx = build_context(bc_config(tmp, "policy.method=sidetune", "frame_stack=2"), progress=False)
    steps = np.arange(0, 40, 3)
    ctx.policy.set_training_mode(False)
    with torch.no_grad():
        plain = policy_logits(ctx.policy, batch_tensors(ctx, steps))
        reference = ctx.policy.get_distribution(
            {k: v for k, v in batch_tensors(ctx, steps).items()}
        ).distribution.logits
        attach_cache(ctx, progress=False)
        obs = batch_tensors(ctx, steps)
        assert BASE_FEATURES_KEY in obs
        cached = policy_logits(ctx.policy, obs)
        features = ctx.extractor.rgb.features(ctx.extractor.rgb_scaler(obs["rgb"]))
        cached_features = ctx.extractor.rgb.features(ctx.extractor.rgb_scaler(obs["rgb"]), obs[BASE_FEATURES_KEY])
    torch.testing.assert_close(plain.log_softmax(1), reference)  # BC's logits are the SB3 policy's (normalised)
    torch.testing.assert_close(cached, plain, atol=2e-3, rtol=2e-3)  # fp16 storage of the base features
    torch.testing.assert_close(cached_features, features, atol=1e-2, rtol=1e-2)
    with torch.no_grad():  # the cached features are really what the policy consumes
        obs[BASE_FEATURES_KEY] = torch.zeros_like(obs[BASE_FEATURES_KEY])
        assert not torch.allclose(policy_logits(ctx.policy, obs), cached, atol=1e-3)
    again = attach_cache(ctx, progress=False)  # reopened from disk, not rebuilt
    assert again.folder == ctx.cache.folder and len(list(again.folder.parent.iterdir())) >= 1


def test_a_second_cell_needing_a_cache_being_built_waits_and_opens_it(tmp, pool):
    # two cells of one base and N start together: the second must neither rebuild the cache nor fail on a
    # half-written one; the build lock is taken here by hand, so the wait is seen, not a timing accident
    import fcntl
    import threading

    from agents.trainers.feature_cache import BUILD_LOCK

    ctx = build_context(bc_config(tmp, "policy.method=sidetune"), progress=False)
    built = attach_cache(ctx, progress=False)
    other_root = tmp / "cache_locked"
    folder = other_root / built.folder.name
    folder.mkdir(parents=True)
    ctx.settings.cache_dir = str(other_root)
    opened: list = []
    with open(folder / BUILD_LOCK, "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        waiter = threading.Thread(target=lambda: opened.append(attach_cache(ctx, progress=False)))
        waiter.start()
        waiter.join(timeout=2.0)
        assert waiter.is_alive() and not (folder / "meta.json").exists()  # waiting, nothing written
        for name in ("features.npy", "meta.json"):  # "the first cell" finishes its build
            shutil.copy(built.folder / name, folder / name)
    waiter.join(timeout=60)
    assert not waiter.is_alive() and opened[0].folder == folder
    assert opened[0].build_seconds == built.build_seconds  # opened the first cell's cache, not rebuilt
    np.testing.assert_array_equal(opened[0].features, built.features)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_bc_step_keeps_frozen_base_and_learns(tmp, pool, precision):
    """Also with policy.train_precision=bfloat16: the step under bf16 autocast still fits the data."""
    overrides = ("policy.method=sidetune", "bc.learning_rate=1e-3", f"policy.train_precision={precision}")
    ctx = build_context(bc_config(tmp, *overrides), progress=False)
    base = unwrap(ctx.extractor.encoder.base)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    side_before = [p.clone() for p in ctx.extractor.encoder.side.parameters()]
    attach_cache(ctx, progress=False)
    ctx.train_steps = ctx.train_steps[:128]  # a tiny set, so several passes must fit it better
    losses = [train_epoch(ctx, epoch, progress=False)["loss"] for epoch in range(6)]
    assert losses[-1] < losses[0] - 0.05, losses
    for key, value in base.state_dict().items():
        assert torch.equal(value, before[key]), f"frozen base {key} changed"
    assert any(
        not torch.equal(a, b) for a, b in zip(side_before, ctx.extractor.encoder.side.parameters(), strict=False)
    )


def test_alpha_schedule_counts_training_samples_like_ppo_frames(tmp, pool):
    cfg = bc_config(
        tmp,
        "policy.method=sidetune",
        "policy.alpha_learned=false",
        "policy.alpha_schedule=stage",
        "policy.alpha_switch_step=100",
        "bc.batch_size=64",
    )
    ctx = build_context(cfg, progress=False)
    train_epoch(ctx, 0, progress=False, max_batches=1)
    assert ctx.frames_seen == 64 and ctx.extractor.alphas()["alpha"] == 1.0  # 64 samples < 100: still the base
    train_epoch(ctx, 1, progress=False, max_batches=1)
    assert ctx.frames_seen == 128 and ctx.extractor.alphas()["alpha"] == 0.0  # 128 samples: switched


def test_train_bc_writes_checkpoints_results_and_loads(tmp, pool):
    cfg = bc_config(tmp, "policy.method=features", "bc.epochs=2")
    run = RunDir.create(tmp / "runs", "bc", "features")
    run.write_config(cfg)
    results = train_bc(cfg, run, progress=False)
    assert results.training["feature_cache"] and results.training["trajectories"] == 8 and results.epochs == 2
    assert results.dataset_frames > results.training["train_frames"] > 0  # validation frames are dataset frames too
    assert results.frames == 2 * results.training["train_frames"]  # env frames trained on: two passes
    saved = json.loads(run.results_path.read_text(), parse_constant=lambda name: pytest.fail(f"bare {name}"))
    evaluation = saved["evaluation"]
    assert evaluation["episodes"] == 14 and 0.0 <= evaluation["spl"]["mean"] <= evaluation["success"]["mean"] <= 1.0
    assert (run.checkpoints / "last.zip").is_file() and (run.checkpoints / "bc_state.pt").is_file()
    venv = make_vec_env(cfg, 1, "heldout", 0)
    model = load_model(run.checkpoints / "best.zip", device="cpu", env=venv)  # the PPO / evaluator loading path
    assert model.policy.features_extractor.encoder.method == "features"
    assert list(run.tensorboard.iterdir())
    again = train_bc(cfg, run, resumed=True, progress=False)  # resume of a finished run trains no more epochs
    assert again.epochs == 2 and len(again.history) == 2


def test_alpha_trajectory_is_saved_per_epoch_in_frames(tmp, pool):
    cfg = bc_config(
        tmp, "policy.method=sidetune", "bc.epochs=2", "policy.alpha_lr=0.05", "bc.val_fraction=0"
    )  # last = best
    run = RunDir.create(tmp / "runs", "bc", "alpha")
    run.write_config(cfg)
    results = train_bc(cfg, run, progress=False)
    strict = json.loads(
        run.results_path.read_text(), parse_constant=lambda name: pytest.fail(f"bare {name} in results.json")
    )
    assert strict["training"]["best_val_loss"] is None  # no validation data: no number, and strict JSON (not NaN)
    trajectory = strict["alpha_trajectory"]
    n = results.training["train_frames"]
    assert [frames for frames, _ in trajectory] == [0, n, 2 * n] and results.frames == 2 * n
    assert trajectory[0][1]["alpha"] == pytest.approx(0.5) and trajectory[-1][1] == results.alphas
    assert all(abs(a["alpha"] - 0.5) > 1e-3 for _, a in trajectory[1:])  # α trains (its own lr, 0.05)


def test_resume_after_interruption_matches_an_uninterrupted_run(tmp, pool, monkeypatch):
    import agents.trainers.bc as bc

    cfg = bc_config(tmp, "policy.method=features", "bc.epochs=3", "bc.patience=0", "eval.episodes_per_building=1")
    straight = RunDir.create(tmp / "runs", "bc", "straight")
    reference = train_bc(cfg, straight, progress=False).history
    real_epoch = bc.train_epoch

    def dying_epoch(ctx, epoch, *args, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt  # killed during the third epoch
        return real_epoch(ctx, epoch, *args, **kwargs)

    broken = RunDir.create(tmp / "runs", "bc", "broken")
    monkeypatch.setattr(bc, "train_epoch", dying_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_bc(cfg, broken, progress=False)
    assert not broken.results_path.exists() and (broken.checkpoints / "last.zip").is_file()
    monkeypatch.setattr(bc, "train_epoch", real_epoch)
    resumed = train_bc(cfg, broken, resumed=True, progress=False).history
    assert [h["epoch"] for h in resumed] == [1, 2, 3]
    for a, b in zip(resumed, reference, strict=False):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6) and a["val_loss"] == pytest.approx(
            b["val_loss"], abs=1e-6
        )
