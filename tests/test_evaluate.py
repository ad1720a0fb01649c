"""Held-out evaluation: each episode once, reference policies, determinism, eval.json, failures, plots, videos."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.commands.evaluate import main as evaluate_main
from agents.commands.plot_results import main as plot_main
from agents.evaluation import metrics
from agents.evaluation.eval_report import aggregate, evaluate_runs, format_table
from agents.evaluation.evaluate import CheckpointError, evaluate_policy, evaluate_run, reference_config, select_episodes
from agents.evaluation.metrics import bootstrap_interval, summarize_success, wilson_interval
from agents.evaluation.results_plots import collect_bc_points, collect_ppo_curves, plot_results
from agents.run.cli import read_run_config
from agents.run.config_loader import load_run_config
from agents.run.env_builder import make_vec_env, unwrap_task
from agents.run.model_builder import build_model, save_model
from agents.run.run_dir import RunDir
from envs.visualize import read_video

SMALL = [
    "env.resolution=32",
    "policy.base=random",
    "policy.method=features",
    "policy.features_dim=64",
    "eval.num_envs=5",
]


@pytest.fixture(scope="module")
def cfg():
    return reference_config(SMALL)


@pytest.fixture(scope="module")
def model(cfg):
    venv = make_vec_env(cfg, 1, "heldout", 0)
    try:
        return build_model(cfg, venv, device="cpu")
    finally:
        venv.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, cfg, model):
    """A PPO-style run folder with an (untrained) checkpoint."""
    run = RunDir.create(tmp_path_factory.mktemp("runs"), "ppo", "seed0")
    ppo = load_run_config("ppo.yaml", overrides=["ppo.n_steps=16", "ppo.batch_size=16", "ppo.total_frames=1000"]).ppo
    run.write_config(dataclasses.replace(cfg, ppo=ppo))  # a PPO run's config: the ppo: section names its kind
    save_model(model, run.checkpoints / "best.zip")
    return run.root


def test_wilson_and_bootstrap_intervals():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert summarize_success([1, 0, 1, 1])["mean"] == 0.75
    values = np.random.default_rng(3).exponential(size=200)
    a, b = bootstrap_interval(values), bootstrap_interval(values)
    assert a == b and a[0] < values.mean() < a[1]
    assert a[1] - a[0] < 4 * values.std() / np.sqrt(200) + 1e-9


TAIL = (1.0 - 0.95) / 2.0  # the interval's lower quantile, computed as bootstrap_interval computes it


def _fresh_bootstrap_interval(x: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """The percentile interval from a generator seeded afresh, drawn in the chunks of about 2M indices that
    bootstrap_interval has always used (the generator's stream depends on them)."""
    rng, means = np.random.default_rng(seed), []
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, resamples, chunk):
        means.append(x[rng.integers(0, x.size, size=(min(resamples, start + chunk) - start, x.size))].mean(axis=1))
    lo, hi = np.quantile(np.concatenate(means), [TAIL, 1 - TAIL])
    return float(lo), float(hi)


def test_kept_resample_indices_give_the_intervals_of_a_fresh_generator():
    rng = np.random.default_rng(11)
    metrics._resample_indices.cache_clear()
    # 420 values are kept; 1,000 x 10,000 resamples are over the bound and drawn each time
    for size, resamples, seed in [(420, 10_000, 0), (37, 2_000, 3), (420, 10_000, 0), (1_000, 10_000, 0)]:
        x = rng.exponential(size=size)
        assert bootstrap_interval(x, resamples=resamples, seed=seed) == _fresh_bootstrap_interval(x, resamples, seed)
    info = metrics._resample_indices.cache_info()
    assert (info.hits, info.misses) == (1, 2)  # the second 420 reused the first one's draws
    assert not metrics._resample_indices(420, 10_000, 0).flags.writeable


def test_select_episodes_takes_the_first_k_of_each_building(cfg):
    venv = make_vec_env(cfg, 1, "heldout", 0, sampling="sequential")
    episodes = unwrap_task(venv).episodes
    venv.close()
    chosen = select_episodes(episodes, 2)
    buildings = list(dict.fromkeys(e.scene_id for e in episodes))
    assert len(buildings) == 14 and len(chosen) == 28
    for b in buildings:
        assert [e for e in chosen if e.scene_id == b] == [e for e in episodes if e.scene_id == b][:2]
    assert select_episodes(episodes, None) == list(episodes)


def test_each_episode_counted_once_whatever_the_batch(cfg):
    expected = [e.episode_id for e in select_episodes(unwrap_task(make_vec_env(cfg, 1, "heldout", 0)).episodes, 2)]
    batched = evaluate_policy("expert", cfg, episodes_per_building=2, num_envs=5, progress=False)
    single = evaluate_policy("expert", cfg, episodes_per_building=2, num_envs=1, progress=False)
    assert batched["episodes"] == 28 == len(batched["per_episode"])
    assert [ep["episode_id"] for ep in batched["per_episode"]] == expected
    assert [ep["episode_index"] for ep in batched["per_episode"]] == list(range(28))
    # 28 episodes on 5 envs: envs run past the set (autoreset) and those episodes must be ignored,
    # so the batched numbers equal one-env numbers episode by episode.
    assert batched["env_steps"] > sum(ep["steps"] for ep in batched["per_episode"])
    assert batched["per_episode"] == single["per_episode"]
    assert json.loads(json.dumps(batched)) == batched  # strict JSON


def test_expert_succeeds_and_random_does_not(cfg):
    expert = evaluate_policy("expert", cfg, episodes_per_building=1, progress=False)
    random = evaluate_policy("random", cfg, episodes_per_building=1, progress=False)
    assert expert["success"]["mean"] >= 0.95 and expert["spl"]["mean"] > 0.9
    assert expert["success"]["ci95"][1] == 1.0 and expert["distance_to_goal"]["mean"] < 0.2
    assert random["success"]["mean"] <= 0.15 and random["episodes"] == 14
    assert random["success"]["ci95"][0] == 0.0 or random["success"]["mean"] > 0


def test_same_seed_same_numbers_other_seed_other_numbers(cfg, model):
    torch.manual_seed(123)
    untouched = torch.rand(3)
    torch.manual_seed(123)
    a = evaluate_policy(model, cfg, episodes_per_building=1, seed=7, progress=False)
    assert torch.equal(torch.rand(3), untouched)  # the caller's RNG stream is not disturbed
    b = evaluate_policy(model, cfg, episodes_per_building=1, seed=7, progress=False)
    c = evaluate_policy(model, cfg, episodes_per_building=1, seed=8, progress=False)
    strip = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert strip(a) == strip(b)
    assert a["per_episode"] != c["per_episode"]  # actions are sampled (deterministic: false)
    assert a["deterministic"] is False and a["seed"] == 7
    # each episode draws from its own (seed, episode) stream: batching does not change sampled outcomes
    one_env = evaluate_policy(model, cfg, episodes_per_building=1, seed=7, num_envs=1, progress=False)
    assert one_env["per_episode"] == a["per_episode"] and a["num_envs"] == 5
    short = copy.deepcopy(cfg)
    short.env.max_steps = 20  # an untrained argmax policy may never stop
    argmax = [
        evaluate_policy(model, short, episodes_per_building=1, deterministic=True, seed=s, progress=False)
        for s in (1, 2)
    ]
    assert argmax[0]["deterministic"] is True and argmax[0]["per_episode"] == argmax[1]["per_episode"]  # seed unused


def test_evaluate_run_writes_eval_json_atomically(run_dir, monkeypatch):
    result = evaluate_run(run_dir, episodes_per_building=1, progress=False)
    saved = json.loads((run_dir / "eval.json").read_text())
    assert saved == result and saved["episodes"] == 14 and saved["checkpoint"].endswith("best.zip")
    assert saved["kind"] == "ppo" and saved["method"] == "features" and saved["data"] == 1000
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".eval.json")]
    by_file = evaluate_run(run_dir / "checkpoints" / "best.zip", episodes_per_building=1, progress=False, write=False)
    assert by_file["run_dir"] == str(run_dir) and by_file["per_episode"] == saved["per_episode"]

    import common.atomic_io

    def crash(fd):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(common.atomic_io.os, "fsync", crash)
    with pytest.raises(OSError, match="simulated"):
        evaluate_run(run_dir, episodes_per_building=1, seed=3, progress=False)
    assert json.loads((run_dir / "eval.json").read_text()) == saved  # the eval.json written first is intact
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".eval.json")]


def test_checkpoint_from_another_observation_space_is_a_clear_error(run_dir, tmp_path):
    other = RunDir.create(tmp_path, "ppo", "res64")
    cfg = read_run_config(RunDir.open(run_dir))
    cfg.env.resolution = 64
    other.write_config(cfg)
    shutil.copy(run_dir / "checkpoints" / "best.zip", other.checkpoints / "best.zip")
    with pytest.raises(CheckpointError, match=r"best\.zip was trained with observation_space .*resolution"):
        evaluate_run(other.root, episodes_per_building=1, progress=False)
    assert not (other.root / "eval.json").exists()


def test_bad_runs_are_reported_and_do_not_stop_the_others(run_dir, tmp_path, capsys):
    empty = RunDir.create(tmp_path, "bc", "no-ckpt")
    empty.write_config(RunDir.open(run_dir).read_config())
    corrupt = RunDir.create(tmp_path, "bc", "corrupt")
    corrupt.write_config(RunDir.open(run_dir).read_config())
    (corrupt.checkpoints / "best.zip").write_bytes(b"not a zip")
    paths = [empty.root, run_dir, corrupt.root, tmp_path / "missing"]
    entries = evaluate_runs(paths, log=lambda line: None, episodes_per_building=1, progress=False)
    assert [e["status"] for e in entries] == ["failed", "ok", "failed", "failed"]
    assert "no checkpoint" in entries[0]["reason"] and "corrupt" in entries[2]["reason"]
    assert "does not exist" in entries[3]["reason"]
    table = format_table(aggregate(entries))
    assert "ppo features base=random data=1000 frames" in table and table.count("FAILED") == 6  # 3 rows + 3 reasons

    code = evaluate_main(
        [str(empty.root), str(run_dir), "--reference", "--episodes-per-building", "1", "--no-progress"]
    )
    out = capsys.readouterr().out
    assert code == 1 and "reference expert" in out and "reference random" in out and "no checkpoint" in out
    expert_line = next(line for line in out.splitlines() if line.startswith("reference expert"))
    assert "100.0 [" in expert_line


def test_videos_show_the_evaluated_episodes(cfg, tmp_path):
    result = evaluate_policy("expert", cfg, episodes_per_building=1, videos=2, video_dir=tmp_path, progress=False)
    assert len(result["videos"]) == 2 and all(v["reproduced"] for v in result["videos"])
    first = result["videos"][0]
    frames = read_video(first["path"])
    assert len(frames) == result["per_episode"][0]["steps"] + 1  # the start frame plus one per step
    assert frames[0].shape[0] >= 256 and frames[0].shape[1] == 3 * frames[0].shape[0]  # RGB | map | top-down
    with pytest.raises(ValueError, match="video_dir"):
        evaluate_policy("random", cfg, episodes_per_building=1, videos=1, progress=False)


def _fake_run(root: Path, name: str, config: dict, files: dict) -> Path:
    run = RunDir.create(root, "fake", name)
    run.write_config(config)
    for file_name, content in files.items():
        (run.root / file_name).write_text(json.dumps(content))
    return run.root


def test_plot_results_from_fabricated_runs(tmp_path):
    for method, base_rate in (("sidetune", 0.3), ("features", 0.2)):
        for size in (49, 490, 4900):
            for seed in (0, 1):
                rate = base_rate + 0.1 * np.log10(size / 49) + 0.02 * seed
                _fake_run(
                    tmp_path,
                    f"bc-{method}-{size}-{seed}",
                    {
                        "policy": {"method": method, "base": "curvature"},
                        "bc": {"trajectories": size},
                        "run": {"seed": seed},
                    },
                    {
                        "eval.json": {
                            "success": {"mean": rate, "ci95": [rate - 0.1, rate + 0.1]},
                            "spl": {"mean": rate / 2, "ci95": [0, 1]},
                        }
                    },
                )
        for seed in (0, 1):
            history = [
                {"frames": f, "success": f / 1e5, "spl": f / 2e5, "reward": f / 1e4 + seed}
                for f in (0, 25_000, 50_000, 100_000)
            ]
            _fake_run(
                tmp_path,
                f"ppo-{method}-{seed}",
                {"policy": {"method": method, "base": "curvature"}, "ppo": {}},
                {"eval_history.json": history},
            )
    _fake_run(tmp_path, "bc-still-running", {"policy": {"method": "scratch"}, "bc": {"trajectories": 49}}, {})
    for seed in (0, 1):  # PPO runs: two finished seeds and one still training, and a method with no finished seed yet
        history = [{"frames": f, "success": 0.5, "spl": 0.3, "reward": 1.0} for f in (0, 25_000, 50_000, 100_000)]
        _fake_run(
            tmp_path,
            f"ppo-blind-{seed}",
            {"policy": {"method": "features", "blind": True}, "ppo": {}},
            {"eval_history.json": history, "results.json": {}},
        )
    _fake_run(
        tmp_path,
        "ppo-blind-2",
        {"policy": {"method": "features", "blind": True}, "ppo": {}},
        {"eval_history.json": [{"frames": 0, "success": 0.0, "spl": 0.0, "reward": -1.0}]},
    )
    assert [
        len(h) for h in collect_ppo_curves([tmp_path / "fake" / f"ppo-blind-{s}" for s in range(3)])[("blind", "None")]
    ] == [4, 4]
    assert [len(h) for h in collect_ppo_curves([tmp_path / "fake" / "ppo-blind-2"])[("blind", "None")]] == [1]
    points = collect_bc_points(sorted(p.parent for p in tmp_path.rglob("config.yaml")))
    assert set(points) == {("sidetune", "curvature"), ("features", "curvature")}
    assert [s["success"][0] for s in points[("sidetune", "curvature")][490]] == pytest.approx([0.4, 0.42])

    out = tmp_path / "plots"
    code = plot_main([str(tmp_path), "--out", str(out)])
    assert code == 0
    for stem in ("bc_vs_trajectories", "ppo_curves"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:2000]
    again = tmp_path / "plots-again"  # the same runs give the same bytes (no date, no random ids in the SVG)
    assert plot_main([str(tmp_path), "--out", str(again)]) == 0
    for name in ("bc_vs_trajectories.png", "bc_vs_trajectories.svg", "ppo_curves.png", "ppo_curves.svg"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    only_ppo = plot_results([p for p in tmp_path.glob("fake/ppo-*")], tmp_path / "ppo-only")
    assert [Path(p).name for p in only_ppo["written"]] == ["ppo_curves.png", "ppo_curves.svg"] and only_ppo["skipped"]
    with pytest.raises(FileNotFoundError, match="no plottable results"):
        plot_results([tmp_path / "fake" / "bc-still-running"], tmp_path / "none")


def test_a_figure_names_the_split_its_runs_were_evaluated_on(tmp_path):
    from agents.evaluation.results_plots import evaluated_on

    history = [{"frames": f, "success": 0.5, "spl": 0.3, "reward": 1.0} for f in (0, 25_000)]
    for name, split in (("held", None), ("held2", "heldout"), ("val", "train_val")):
        eval_section = {"eval": {"split": split}} if split else {}
        _fake_run(
            tmp_path,
            name,
            {"policy": {"method": "features", "base": "curvature"}, "ppo": {}, **eval_section},
            {"eval_history.json": history, "results.json": {}},
        )
    runs = tmp_path / "fake"
    assert evaluated_on([runs / "held", runs / "held2"]) == "held-out buildings"
    assert evaluated_on([runs / "val"]) == "the 'train_val' split"
    assert evaluated_on([runs / "held", runs / "val"]) == "the 'heldout' and 'train_val' splits"
    plot_results([runs / "val"], tmp_path / "plots")
    assert b"PPO on the 'train_val' split; bands" in (tmp_path / "plots" / "ppo_curves.svg").read_bytes().replace(
        b"&#39;", b"'"
    )


def test_runs_of_one_method_on_different_set_ups_are_separate_curves(tmp_path):
    """Seeds pool into one curve; runs whose configs differ beyond the seed (here the episode length) do not, and
    are named by what sets them apart, as the reports name them."""
    history = [{"frames": f, "success": 0.5, "spl": 0.3, "reward": 1.0} for f in (0, 25_000)]
    for name, seed, steps in (("short", 0, 250), ("short-seed1", 1, 250), ("long", 0, 500)):
        _fake_run(
            tmp_path,
            name,
            {
                "policy": {"method": "features", "base": "curvature"},
                "ppo": {},
                "run": {"seed": seed},
                "env": {"max_steps": steps},
            },
            {"eval_history.json": history, "results.json": {}},
        )
    curves = collect_ppo_curves(sorted((tmp_path / "fake").iterdir()))
    assert {key: len(seeds) for key, seeds in curves.items()} == {
        ("features [env.max_steps=250]", "curvature"): 2,
        ("features [env.max_steps=500]", "curvature"): 1,
    }


def test_ppo_band_is_the_seeds_then_episodes_interval_where_episodes_were_kept():
    from agents.evaluation.results_plots import _ppo_band

    rng = np.random.default_rng(0)

    def history(p: float, keep: bool) -> list[dict]:
        rows = []
        for frames in (0, 25_000, 50_000):
            outcomes = (rng.uniform(size=42) < p * frames / 50_000).astype(float)
            row = {"frames": frames, "success": outcomes.mean(), "spl": outcomes.mean(), "reward": outcomes.mean()}
            if keep:
                row["per_episode"] = [
                    {"episode_id": str(i), "success": s, "spl": s, "reward": s} for i, s in enumerate(outcomes)
                ]
            rows.append(row)
        return rows

    seeds = [history(0.6, keep=True) for _ in range(3)]
    frames, mean, lower, upper = _ppo_band(seeds, "success")
    assert frames.tolist() == [0, 25_000, 50_000]
    assert mean.tolist() == pytest.approx([np.mean([s[i]["success"] for s in seeds]) for i in range(3)])
    assert lower[0] == upper[0] == 0.0  # nothing succeeds at 0 frames: no spread
    assert np.all(lower[1:] < mean[1:]) and np.all(mean[1:] < upper[1:]) and np.all(upper - lower < 0.3)
    unkept = [history(0.6, keep=False) for _ in range(3)]  # histories without per-episode outcomes
    frames, mean, lower, upper = _ppo_band(unkept, "success")
    values = np.array([[r["success"] for r in s] for s in unkept])
    assert lower.tolist() == pytest.approx(values.min(axis=0).tolist()) and upper.tolist() == pytest.approx(
        values.max(axis=0).tolist()
    )


def _entry(success: list[float], seed: int, auto_stop: bool) -> dict:
    per_episode = [
        {"success": s, "spl": s, "distance_to_goal": 1 - s, "reward": 10 * s, "collisions": 0} for s in success
    ]
    result = {
        "kind": "bc",
        "method": "sidetune",
        "base": "curvature",
        "data": 49,
        "per_episode": per_episode,
        "success": summarize_success(success),
    }
    config = {
        "env": {"auto_stop": auto_stop},
        "policy": {"method": "sidetune"},
        "run": {"seed": seed},
        "eval": {"seed": 0},
    }
    return {"run": f"r{seed}{auto_stop}", "status": "ok", "result": result, "config": config}


def test_seeds_are_pooled_but_other_config_differences_are_not():
    rows = aggregate([_entry([1, 0], 0, False), _entry([1, 1], 1, False), _entry([0, 0], 0, True)])
    assert [r["group"] for r in rows] == [
        "bc sidetune base=curvature data=49 traj [env.auto_stop=False]",
        "bc sidetune base=curvature data=49 traj [env.auto_stop=True]",
    ]
    pooled = rows[0]
    assert pooled["runs"] == 2 and pooled["episodes"] == 4 and pooled["success"]["mean"] == 0.75
    assert pooled["seed_std_success"] == pytest.approx(np.std([0.5, 1.0], ddof=1))
    assert rows[1]["runs"] == 1 and rows[1]["success"]["mean"] == 0.0
    assert (
        aggregate([_entry([1], 0, False), _entry([0], 1, False)])[0]["group"]
        == "bc sidetune base=curvature data=49 traj"
    )


def test_table_has_a_backend_column_and_keeps_backends_apart():
    """One run evaluated on both simulators (sim-to-sim) gives one row per backend, never a pooled row."""

    def entry(backend: str, success: float) -> dict:
        episode = {
            "success": success,
            "spl": success,
            "distance_to_goal": 1.0 - success,
            "reward": 0.0,
            "collisions": 0.0,
        }
        result = {
            "kind": "bc",
            "method": "features",
            "base": "curvature",
            "data": 490,
            "backend": backend,
            "success": {"mean": success},
            "per_episode": [episode] * 4,
        }
        return {"run": "runs/bc/a", "status": "ok", "result": result, "config": {"env": {"backend": "embedded"}}}

    rows = aggregate([entry("embedded", 1.0), entry("habitat", 0.0)])
    assert [(r["backend"], r["episodes"], r["success"]["mean"]) for r in rows] == [
        ("embedded", 4, 1.0),
        ("habitat", 4, 0.0),
    ]
    header, _, first, second = format_table(rows).splitlines()
    assert header.split()[:2] == ["group", "backend"]
    assert "embedded" in first and "100.0" in first and "habitat" in second and "0.0" in second


def test_an_evaluation_on_habitat_batches_at_most_one_buildings_episodes(cfg):
    """Habitat has a simulator per scene (~20 s each to create on a CPU): 14 envs over one episode per building
    would create 14, so its evaluations batch at most one building's episodes (sharing one or two simulators);
    the embedded backend batches eval.num_envs. Results do not depend on the number (one stream per episode)."""
    from agents.evaluation.evaluate import eval_num_envs

    habitat = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, backend="habitat"))
    for per_building, on_habitat in ((1, 1), (5, 5), (30, 14), (None, 14)):
        settings = cfg.eval.replace(num_envs=14, episodes_per_building=per_building)
        count = 14 * (per_building or 30)
        assert eval_num_envs(cfg, settings, count) == 14 and eval_num_envs(habitat, settings, count) == on_habitat
    assert eval_num_envs(cfg, cfg.eval.replace(num_envs=14, episodes_per_building=1), 3) == 3  # no idle rows
