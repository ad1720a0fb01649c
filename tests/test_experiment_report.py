"""The experiment report reads stored evaluations, compares the right groups and finds a planted effect."""

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.evaluation.experiment_report import build_report
from agents.evaluation.results import RunResults

ROOT = Path(__file__).resolve().parents[1]
EPISODES = 120


def _run(
    folder: Path,
    method: str,
    base: str,
    n: int,
    seed: int,
    p_success: float,
    alpha: float | None = None,
    blind: bool = False,
    trainer: str = "bc",
    probe: dict[str, float] | None = None,
    numerics: dict[str, object] | None = None,
) -> None:
    """A finished BC (or PPO: ``n`` = frames) run folder whose episode successes are Bernoulli(p_success) draws
    (episode difficulty shared). Seed 0 writes the schema the committed runs have (1: PPO flat, BC with
    ``heldout``), other seeds the current one (2), so every report reads a mix of both. ``probe``: the α probe's
    loss per forced α (schema 2 only, as in the committed runs); ``numerics``: what its precisions resolved to
    (schema 2 only)."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{method}{base}{n}{blind}".encode())])
    difficulty = np.random.default_rng(0).uniform(-0.2, 0.2, EPISODES)  # the same episodes for every run
    success = (rng.uniform(size=EPISODES) < np.clip(p_success + difficulty, 0, 1)).astype(float)
    per_episode = [
        {
            "episode_id": str(i),
            "building": f"b{i % 14}",
            "start_distance": 2.0 + i * 0.01,
            "success": s,
            "spl": 0.8 * s,
            "reward": 10 * s - 2,
            "distance_to_goal": 1.0 - s,
            "collisions": 0,
            "steps": 20,
            "path_length": 3.0,
        }
        for i, s in enumerate(success)
    ]
    heldout = {
        "per_episode": per_episode,
        "success": {"mean": success.mean(), "ci95": [0, 1]},
        "spl": {"mean": 0.8 * success.mean(), "ci95": [0, 1]},
        "episodes": EPISODES,
        "backend": "embedded",
    }
    alphas = {"alpha": alpha} if alpha is not None else {}
    trajectory = [[0, {"alpha": 0.5}], [1000, {"alpha": alpha}]] if alpha is not None else []
    history = [{"epoch": i + 1, "train_loss": (1.0 - p_success) / (i + 1), "val_loss": float("nan")} for i in range(5)]
    if seed > 0:
        bc_history = history if trainer == "bc" else None
        method_name = "blind" if blind else method
        alpha_probe = {"loss": probe, "split": "heldout"} if probe is not None else None
        results = RunResults(
            trainer,
            method_name,
            base,
            n,
            seed,
            1000,
            alphas,
            trajectory,
            heldout,
            alpha_probe=alpha_probe,
            history=bc_history,
            numerics=numerics,
        )
        results = results.to_json()
    elif trainer == "bc":
        results = {"kind": "bc", "heldout": heldout, "alphas": alphas, "alpha_trajectory": trajectory}
        results.update(history=history, frames=200, epochs_run=5, best_val_loss=float("nan"))
    else:
        results = {"kind": "ppo", **heldout, "alphas": alphas, "alpha_trajectory": trajectory, "frames": n}
    name = f"{method}-{base}-{n}" + ("-blind" if blind else "") + f"-seed{seed}"
    run = folder / name
    run.mkdir(parents=True)
    config = {
        "run": {"seed": seed},
        "policy": {"method": method, "base": base, "blind": blind, "alpha_lr": 0.01},
        "env": {"resolution": 128},
        **({"bc": {"trajectories": n}} if trainer == "bc" else {"ppo": {"total_frames": n}}),
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "results.json").write_text(json.dumps(results))


@pytest.fixture()
def experiment(tmp_path: Path) -> Path:
    folder = tmp_path / "imitation"
    for seed in range(3):
        for n in (49, 490):
            _run(folder, "sidetune", "curvature", n, seed, 0.70, alpha=0.6 + 0.01 * seed)
            _run(folder, "features", "curvature", n, seed, 0.55)
            _run(folder, "finetune", "curvature", n, seed, 0.50)
            _run(folder, "features", "random", n, seed, 0.35)
            _run(folder, "scratch", "random", n, seed, 0.40)
            _run(folder, "features", "random", n, seed, 0.45, blind=True)
    (folder / "features-curvature-4900-seed0").mkdir()  # a run still training: listed, not counted
    (folder / "features-curvature-4900-seed0" / "config.yaml").write_text(
        yaml.safe_dump({"policy": {"method": "features"}})
    )
    return folder


def test_report_finds_planted_differences_and_names_the_best_other(experiment: Path) -> None:
    out = build_report(experiment, log=lambda _: None)["report"]
    success = [c for c in out["comparisons"]["success"]]
    at49 = {c["other"]: c for c in success if c["data"] == 49}
    assert set(at49) == {
        "bc features base=curvature",
        "bc finetune base=curvature",
        "bc features base=random",
        "bc scratch base=random",
        "bc blind base=random",
    }
    best = [c for c in at49.values() if c["best_other"]]
    assert [c["other"] for c in best] == ["bc features base=curvature"]
    assert best[0]["mean"] == pytest.approx(0.15, abs=0.08) and best[0]["ci95"][0] > 0  # planted +0.15
    prior = {c["other"]: c for c in out["prior"]["features base=curvature"] if c["data"] == 49}
    assert set(prior) == {"bc features base=random", "bc blind base=random"}  # only the prior's reference rows
    assert prior["bc features base=random"]["mean"] == pytest.approx(0.20, abs=0.08)
    assert out["alphas"] == [
        {"base": "curvature", "data": 49, "seeds": 3, "mean": pytest.approx(0.61), "min": 0.6, "max": 0.62}
        | {"probe_loss": None, "probe_seeds": 0},
        {"base": "curvature", "data": 490, "seeds": 3, "mean": pytest.approx(0.61), "min": 0.6, "max": 0.62}
        | {"probe_loss": None, "probe_seeds": 0},
    ]
    assert out["unfinished"] == [str(experiment / "features-curvature-4900-seed0")]
    claim = {(c["data"], c["best_other"]): c["verdict"] for c in out["claim"]}
    assert claim == {
        (49, "bc features base=curvature"): "holds (provisional: 3 vs 3 seeds, the Design asks 6)",
        (490, "bc features base=curvature"): "holds",
    }  # 3 seeds: enough at 490, not at 49
    text = (experiment / "report.md").read_text()
    assert "sidetune minus each other method" in text and "Learned α" in text
    assert (experiment / "plots" / "fig3c.png").stat().st_size > 10_000 and (
        experiment / "plots" / "alpha.svg"
    ).is_file()
    assert (experiment / "plots" / "training.png").stat().st_size > 10_000 and "plots/training.png" in text


def test_another_target_method_gets_the_claim(experiment: Path) -> None:
    """--target: the claim is tested for another method (here features, 0.15 below the planted sidetune)."""
    out = build_report(experiment, log=lambda _: None, target="features")["report"]
    at49 = [c for c in out["claim"] if c["data"] == 49]
    assert {c["target"] for c in at49} == {"bc features base=curvature", "bc features base=random"}
    worst = next(c for c in at49 if c["target"] == "bc features base=curvature")
    assert worst["best_other"] == "bc sidetune base=curvature" and worst["verdict"].startswith(
        "does not hold: features"
    )
    text = (experiment / "report.md").read_text()
    assert "features minus each other method" in text and "--target features`" in text  # the command as written


def test_a_ppo_experiment_is_reported_without_fig3c(tmp_path: Path) -> None:
    folder = tmp_path / "ppo_prior"  # the shape of sweeps/ppo_prior.yaml: four policies x 3 seeds at one frame count
    for seed in range(3):
        _run(folder, "sidetune", "curvature", 300_000, seed, 0.60, alpha=0.4, trainer="ppo")
        _run(folder, "features", "curvature", 300_000, seed, 0.50, trainer="ppo")
        _run(folder, "features", "random", 300_000, seed, 0.30, trainer="ppo")
        _run(folder, "features", "random", 300_000, seed, 0.40, blind=True, trainer="ppo")
    out = build_report(folder, log=lambda _: None)["report"]
    success = {c["other"]: c for c in out["comparisons"]["success"]}
    assert set(success) == {"ppo features base=curvature", "ppo features base=random", "ppo blind base=random"}
    assert (
        success["ppo features base=curvature"]["best_other"]
        and success["ppo features base=curvature"]["data"] == 300_000
    )
    assert success["ppo features base=curvature"]["mean"] == pytest.approx(0.10, abs=0.08)
    prior = {c["other"]: c["mean"] for c in out["prior"]["features base=curvature"]}
    assert prior["ppo features base=random"] == pytest.approx(0.20, abs=0.08) and "ppo blind base=random" in prior
    assert out["claim"][0]["verdict"] == "holds"
    assert out["alphas"] == [
        {"base": "curvature", "data": 300_000, "seeds": 3, "mean": pytest.approx(0.4), "min": 0.4, "max": 0.4}
        | {"probe_loss": None, "probe_seeds": 0}  # these runs had no α probe
    ]
    assert (
        not (folder / "plots" / "fig3c.png").exists()
        and not (folder / "plots" / "training.png").exists()
        and (folder / "plots" / "alpha.png").is_file()
    )
    assert "plots/ppo_curves.png" in (folder / "report.md").read_text()


def _milestone(run: Path, at: int, p_success: float, seed: int) -> None:
    """The run's full evaluation at ``at`` frames (train.milestones), Bernoulli(p_success) per episode."""
    rng = np.random.default_rng([seed, at, zlib.crc32(run.name.encode())])
    success = (rng.uniform(size=EPISODES) < p_success).astype(float)
    per_episode = [
        {"episode_id": str(i), "building": f"b{i % 14}", "success": s, "spl": 0.8 * s, "reward": 10 * s - 2}
        | {"distance_to_goal": 1.0 - s, "collisions": 0, "steps": 20, "path_length": 3.0, "start_distance": 2.0}
        for i, s in enumerate(success)
    ]
    saved = {
        "per_episode": per_episode,
        "success": {"mean": success.mean(), "ci95": [0, 1]},
        "spl": {"mean": 0.8 * success.mean(), "ci95": [0, 1]},
        "episodes": EPISODES,
        "backend": "embedded",
        "split": "heldout",
        "milestone": at,
        "frames": at + 32,
        "checkpoint": f"checkpoints/frames-{at}.zip",
    }
    (run / "milestones").mkdir(exist_ok=True)
    (run / "milestones" / f"frames-{at}.json").write_text(json.dumps(saved))


def test_a_ppo_experiment_is_reported_at_a_shorter_horizon_from_its_milestones(tmp_path: Path) -> None:
    folder = tmp_path / "ppo_1m"  # sidetune leads at the end, features at 300k frames; one cell has not reached it
    for seed in range(3):
        _run(folder, "sidetune", "curvature", 1_000_000, seed, 0.80, alpha=0.4, trainer="ppo")
        _run(folder, "features", "curvature", 1_000_000, seed, 0.60, trainer="ppo")
        _milestone(folder / f"sidetune-curvature-1000000-seed{seed}", 300_000, 0.40, seed)
        if seed < 2:
            _milestone(folder / f"features-curvature-1000000-seed{seed}", 300_000, 0.70, seed)
    final = build_report(folder, log=lambda _: None)["report"]
    assert final["claim"][0]["verdict"] == "holds" and final["claim"][0]["mean"] == pytest.approx(0.2, abs=0.08)
    early = build_report(folder, log=lambda _: None, at=300_000, out=tmp_path / "at_300k")["report"]
    assert early["claim"][0]["verdict"].startswith("does not hold")
    assert early["claim"][0]["mean"] == pytest.approx(-0.3, abs=0.08) and early["claim"][0]["seeds"] == [3, 2]
    text = (tmp_path / "at_300k" / "report.md").read_text()
    assert "5 finished runs, 1 without an evaluation yet" in text and "--at 300000" in text and "300,000 frames" in text
    assert early["alphas"] == []  # the final α belongs to the end of training, not to this horizon
    assert {row["data"] for row in early["claim"]} == {300_000}  # tables name the horizon, not the runs' total
    assert "data=300000 frames" in text and "data=1000000" not in text


def test_seeds_whose_auto_precisions_resolved_differently_are_flagged(tmp_path: Path, experiment: Path) -> None:
    """Seeds of one cell trained on machines with and without native bf16 pool two numerics: the report says
    which runs ran which; groups with one numerics, and runs without the record, are not flagged."""
    folder = tmp_path / "ppo_parity"
    bf16 = {"device": "cpu", "base_dtype": "bfloat16", "train_precision": "bfloat16", "cpu_bf16": ["avx512_bf16"]}
    fp32 = {"device": "cpu", "base_dtype": "float32", "train_precision": "float32", "cpu_bf16": []}
    for seed in range(3):
        _run(
            folder,
            "sidetune",
            "curvature",
            300_000,
            seed,
            0.6,
            alpha=0.4,
            trainer="ppo",
            numerics=[bf16, bf16, fp32][seed],
        )
        _run(folder, "features", "curvature", 300_000, seed, 0.5, trainer="ppo", numerics=fp32)
    out = build_report(folder, log=lambda _: None)["report"]
    assert out["mixed_numerics"] == [
        f"- ppo sidetune base=curvature data=300000 frames: base bfloat16, update bfloat16 "
        f"(1: {folder}/sidetune-curvature-300000-seed1); "
        f"base float32, update float32 (1: {folder}/sidetune-curvature-300000-seed2)"
    ]  # seed 0 writes schema 1, which has no record
    assert "## Mixed numerics" in (folder / "report.md").read_text()
    assert "mixed_numerics" not in build_report(experiment, log=lambda _: None)["report"]
    assert "Mixed numerics" not in (experiment / "report.md").read_text()


def test_the_alpha_table_carries_the_probe_mean_over_the_seeds_that_have_one(tmp_path: Path) -> None:
    folder = tmp_path / "ppo_arms"
    for seed in (1, 2):
        probe = {"0.0": 1.0 + seed, "0.5": 2.0, "1.0": 3.0 - seed}
        _run(folder, "sidetune", "curvature", 300_000, seed, 0.60, alpha=0.4, trainer="ppo", probe=probe)
        _run(folder, "features", "curvature", 300_000, seed, 0.50, trainer="ppo")
        _run(folder, "sidetune", "denoising", 300_000, seed, 0.55, alpha=0.3, trainer="ppo", probe=probe)
        _run(folder, "sidetune", "random", 300_000, seed, 0.55, alpha=0.2, trainer="ppo")  # runs without a probe
    _run(folder, "sidetune", "denoising", 300_000, 3, 0.55, alpha=0.3, trainer="ppo")  # one seed without it
    out = build_report(folder, log=lambda _: None)["report"]
    by_base = {a["base"]: a for a in out["alphas"]}
    assert by_base["curvature"]["probe_loss"] == {"0.0": 2.5, "0.5": 2.0, "1.0": 1.5}
    assert by_base["denoising"]["probe_loss"] == by_base["curvature"]["probe_loss"]
    assert (by_base["denoising"]["probe_seeds"], by_base["denoising"]["seeds"]) == (2, 3)
    assert by_base["random"]["probe_loss"] is None and by_base["random"]["probe_seeds"] == 0
    rows = {
        line.split(" |")[0][2:]: line
        for line in (folder / "report.md").read_text().splitlines()
        if "| 300000 |" in line
    }
    assert rows["curvature"].endswith("| 2.500 / 2.000 / 1.500 |"), rows
    assert rows["denoising"].endswith("| 2.500 / 2.000 / 1.500 (2 of 3 seeds) |"), rows
    assert rows["random"].endswith("| - |"), rows


def test_claim_verdict_follows_the_designs_margin() -> None:
    from agents.evaluation.experiment_report import claim_verdicts
    from agents.evaluation.stats import Comparison, Difference

    def comparison(low: float, high: float, best: bool = True) -> Comparison:
        diff = Difference((low + high) / 2, (low, high), 0.5, 0.5, 6, 6, 420, True)
        return Comparison(49, "bc sidetune base=curvature", "bc features base=curvature", diff, best)

    verdicts = [
        r["verdict"]
        for r in claim_verdicts(
            [
                comparison(-0.04, 0.02),
                comparison(-0.12, -0.01),
                comparison(-0.08, 0.03),
                comparison(-0.3, -0.2, best=False),
            ]
        )
    ]
    assert verdicts == ["holds", "does not hold: sidetune is below the best", "not shown: the interval is too wide"]
    few = Comparison(
        490,
        "bc sidetune base=curvature",
        "bc features base=curvature",
        Difference(0.01, (-0.03, 0.05), 0.7, 0.7, 2, 1, 420, True),
        True,
    )  # a grid still running at N=490
    assert claim_verdicts([few])[0]["verdict"] == "holds (provisional: 2 vs 1 seeds, the Design asks 3)"


def test_report_command_bad_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "report.py"), str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: experiment folder:") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nope").exists()


def test_results_name_the_code_that_made_them(tmp_path: Path) -> None:
    from agents.run.run_dir import RunDir, code_version

    run = RunDir.create(tmp_path, "bc", "x")
    run.write_results({"success": 0.5})
    saved = json.loads(run.results_path.read_text())
    assert saved["success"] == 0.5 and saved["code"] == code_version()
    if (ROOT / ".git").exists():  # a checkout (CI clones one): the commit is a full hash
        assert len(saved["code"]["commit"]) == 40 and isinstance(saved["code"]["dirty"], bool)


def test_an_ablation_folder_is_compared_with_the_grid_and_kept_apart_from_its_sidetune(
    experiment: Path, tmp_path: Path
) -> None:
    ablation = tmp_path / "imitation_alpha"
    for seed in range(3):  # same method and base as the grid's sidetune, another alpha_lr: a separate group
        _run(ablation, "sidetune", "curvature", 49, seed, 0.30, alpha=0.45)
        cfg = yaml.safe_load((ablation / f"sidetune-curvature-49-seed{seed}" / "config.yaml").read_text())
        cfg["policy"]["alpha_lr"] = None
        (ablation / f"sidetune-curvature-49-seed{seed}" / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = build_report(ablation, log=lambda _: None, partners=[experiment])["report"]
    targets = {c["target"] for c in out["comparisons"]["success"] if c["data"] == 49}
    assert len(targets) == 2 and any("alpha_lr=None" in t for t in targets)  # both sidetune variants, never pooled
    by_variant = {a["variant"]: a for a in out["alphas"] if a["data"] == 49}
    assert (
        by_variant["[policy.alpha_lr=None]"]["mean"] == pytest.approx(0.45)
        and by_variant["[policy.alpha_lr=None]"]["seeds"] == 3
    )
    assert by_variant["[policy.alpha_lr=0.01]"]["mean"] == pytest.approx(0.61)
    (variant,) = [c for c in out["variants"]["success"] if c["data"] == 49]  # the ablation against the grid's own cells
    assert variant["target"].endswith("[policy.alpha_lr=None]") and variant["other"].endswith("[policy.alpha_lr=0.01]")
    assert variant["mean"] == pytest.approx(-0.40, abs=0.08) and variant["ci95"][1] < 0  # planted: 0.30 vs 0.70
    assert not [
        c for c in out["variants"]["success"] if c["data"] == 490
    ]  # one variant only at 490: nothing to compare
    report = (ablation / "report.md").read_text()
    assert "--with" in report and "## Variants of a method" in report


def test_reference_rows_are_evaluated_once_and_then_read_back(
    experiment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.evaluation.experiment_report as report
    from agents.run.run_config import RunConfig

    calls = []

    def fake_references(configs, log, progress):  # the real one plays 3 x 420 episodes
        calls.append(configs)
        per_episode = [
            {
                "episode_id": str(i),
                "building": f"b{i % 14}",
                "start_distance": 2.0 + i * 0.01,
                "success": 1.0,
                "spl": 0.9,
                "reward": 8.0,
                "distance_to_goal": 0.1,
                "collisions": 0,
                "steps": 20,
                "path_length": 3.0,
            }
            for i in range(EPISODES)
        ]
        summary = {"mean": 1.0, "ci95": [0.97, 1.0]}
        return [
            {
                "run": "expert",
                "status": "ok",
                "config": {},
                "result": {
                    "kind": "reference",
                    "method": "expert",
                    "per_episode": per_episode,
                    "success": summary,
                    "spl": {"mean": 0.9, "ci95": [0.88, 0.92]},
                },
            }
        ]

    monkeypatch.setattr(report, "evaluate_references", fake_references)
    monkeypatch.setattr(
        RunConfig, "from_dict", classmethod(lambda cls, tree: tree)
    )  # the synthetic configs are partial
    build_report(experiment, reference=True, log=lambda _: None)
    build_report(experiment, reference=True, log=lambda _: None)
    assert len(calls) == 1 and (experiment / "references.json").is_file()
    assert "reference expert" in (experiment / "report.md").read_text()


def test_a_ppo_sweep_writes_report_md_even_when_a_deadline_left_cells(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from agents.sweeps.sweep_report import write_report

    folder = tmp_path / "ppo_prior"
    _run(folder, "sidetune", "curvature", 300_000, 0, 0.60, alpha=0.4, trainer="ppo")
    _run(folder, "features", "curvature", 300_000, 0, 0.50, trainer="ppo")
    cells = [
        {"cell": name, "folder": str(folder / name), "status": "done"}
        for name in sorted(p.name for p in folder.iterdir())
    ]
    cells.append(
        {
            "cell": "features-random-seed1",
            "folder": str(folder / "features-random-seed1"),
            "status": "not started",
            "reason": "deadline had passed",
        }
    )
    written = write_report(SimpleNamespace(folder=folder, experiment="ppo_prior", trainer="ppo"), cells, 60.0)
    assert folder / "report.md" in written
    assert "ppo sidetune base=curvature - ppo features base=curvature" in (folder / "report.md").read_text()
    assert "[report.md](report.md)" in (folder / "sweep.md").read_text()


def test_report_names_folders_relative_to_the_working_directory(
    experiment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep hands build_report an absolute folder; the committed report must still name runs/<experiment>."""
    monkeypatch.chdir(experiment.parent)
    build_report(experiment.resolve(), log=lambda _: None)
    text = (experiment / "report.md").read_text()
    assert "Written by `python scripts/report.py imitation`" in text
    assert "- imitation/features-curvature-4900-seed0" in text
    assert str(experiment.parent) not in text


def test_bases_are_compared_within_a_method(tmp_path: Path) -> None:
    """Curvature minus denoising per method and size (the paper's 'curvature helps more'), planted +0.25."""
    folder = tmp_path / "imitation"
    for seed in range(3):
        _run(folder, "features", "curvature", 49, seed, 0.70)
        _run(folder, "features", "denoising", 49, seed, 0.45)
        _run(folder, "scratch", "random", 49, seed, 0.40)
    out = build_report(folder, log=lambda _: None)["report"]
    [between] = out["bases"]  # scratch has no pretrained base: nothing to compare
    assert (between["target"], between["other"], between["data"]) == (
        "features base=curvature",
        "features base=denoising",
        49,
    )
    assert between["mean"] == pytest.approx(0.25, abs=0.08) and between["ci95"][0] > 0
    assert "## Base against base" in (folder / "report.md").read_text()


def test_runs_left_out_by_name_leave_the_report_as_it_was(experiment: Path) -> None:
    """--exclude: seeds that joined the folder later (here a sidetune seed 3 far below the others) change the
    report, and leaving them out by name gives back the report of the runs before them, command included."""
    before = build_report(experiment, log=lambda _: None)["report"]
    before_text = (experiment / "report.md").read_text()
    _run(experiment, "sidetune", "curvature", 490, 3, 0.20, alpha=0.9)
    joined = build_report(experiment, log=lambda _: None)["report"]
    assert joined["comparisons"] != before["comparisons"]
    again = build_report(experiment, log=lambda _: None, exclude=["*-490-seed[3-8]"])["report"]
    assert again["comparisons"] == before["comparisons"] and again["alphas"] == before["alphas"]
    text = (experiment / "report.md").read_text()
    assert "--exclude '*-490-seed[3-8]'`" in text
    assert text.replace(" --exclude '*-490-seed[3-8]'", "") == before_text


def test_a_second_report_of_a_subset_goes_to_its_own_folder(experiment: Path, tmp_path: Path) -> None:
    """--out: the same runs reported again (here without the later seed) into another folder; the experiment's
    own report stays as it was, and the second one names the command that rewrites it."""
    _run(experiment, "sidetune", "curvature", 490, 3, 0.20, alpha=0.9)
    main = build_report(experiment, log=lambda _: None)["report"]
    main_text = (experiment / "report.md").read_text()
    subset = tmp_path / "subset"
    written = build_report(experiment, log=lambda _: None, exclude=["*-490-seed3"], out=subset)["written"]
    assert {p.parent for p in written if p.suffix in (".md", ".json")} == {subset}
    assert (experiment / "report.md").read_text() == main_text  # untouched
    other = json.loads((subset / "report.json").read_text())
    assert other["comparisons"] != json.loads(json.dumps(main["comparisons"], default=str))
    assert f"--exclude '*-490-seed3' --out {subset}`" in (subset / "report.md").read_text()


def test_the_command_a_report_names_rewrites_it_unchanged(experiment: Path, tmp_path: Path) -> None:
    """scripts/experiments/regenerate_reports.sh reruns the command in report.md's header: with several --exclude
    patterns (written one flag each) it must give back the same report, not keep only the last pattern."""
    import re
    import shlex

    from agents.commands.report import main as report_main

    _run(experiment, "sidetune", "curvature", 490, 3, 0.20, alpha=0.9)
    _run(experiment, "sidetune", "curvature", 490, 4, 0.25, alpha=0.9)
    subset = tmp_path / "subset"
    assert report_main([str(experiment), "--exclude", "*-490-seed3", "*-490-seed4", "--out", str(subset)]) == 0
    first = (subset / "report.json").read_bytes()
    header = (subset / "report.md").read_text()
    command = re.search(r"Written by `python scripts/report.py ([^`]*)`", header).group(1)
    assert report_main(shlex.split(command)) == 0
    assert (subset / "report.json").read_bytes() == first and (subset / "report.md").read_text() == header


def test_the_report_names_the_split_its_runs_evaluated(tmp_path: Path) -> None:
    """A selection run on training buildings (eval.split=train, recorded in the evaluation or only in the config)
    is not headed as a held-out evaluation; held-out runs keep their heading."""
    folder = tmp_path / "select"
    for seed in range(2):
        _run(folder, "sidetune", "curvature", 49, seed, 0.5, alpha=0.5)
    for run in folder.iterdir():  # seed 0: the split only in the config (older evaluations); seed 1: recorded too
        config = yaml.safe_load((run / "config.yaml").read_text())
        (run / "config.yaml").write_text(yaml.safe_dump({**config, "eval": {"split": "train"}}))
        results = json.loads((run / "results.json").read_text())
        if "evaluation" in results:
            results["evaluation"]["split"] = "train"
            (run / "results.json").write_text(json.dumps(results))
    build_report(folder, log=lambda _: None)
    text = (folder / "report.md").read_text()
    assert "from the runs' stored evaluations on the training buildings." in text
    assert "## Evaluation on the training buildings, seeds pooled" in text and "held-out evaluation" not in text.lower()
    figure = (folder / "plots" / "fig3c.svg").read_text().replace("&#39;", "'")
    assert "Behaviour cloning, evaluations on the training buildings; bars" in figure and "held-out" not in figure

    heldout = tmp_path / "heldout"
    _run(heldout, "sidetune", "curvature", 49, 1, 0.5, alpha=0.5)
    build_report(heldout, log=lambda _: None)
    text = (heldout / "report.md").read_text()
    assert "from the runs' stored held-out evaluations." in text and "## Held-out evaluation, seeds pooled" in text
    assert "Behaviour cloning, 420 held-out episodes; bars" in (heldout / "plots" / "fig3c.svg").read_text()


def test_folders_a_sweep_set_aside_are_not_runs(experiment: Path) -> None:
    abandoned = experiment / "sweep_abandoned" / "sidetune-curvature-4900-20261127-060711"
    abandoned.mkdir(parents=True)
    (abandoned / "config.yaml").write_text(yaml.safe_dump({"policy": {"method": "sidetune"}}))
    out = build_report(experiment, log=lambda _: None)["report"]
    assert out["unfinished"] == [str(experiment / "features-curvature-4900-seed0")]


def test_committed_runs_read_through_the_schema_1_shim() -> None:
    """Every committed schema-1 results.json under runs/ reads through the shim."""
    from agents.evaluation.results import SCHEMA_VERSION, parse_results
    from agents.evaluation.run_folder import find_run_folders, read_run_folder

    kinds = {"bc": 0, "ppo": 0}
    for folder in find_run_folders([ROOT / "runs"]):
        run = read_run_folder(folder)
        if run.results is None:
            continue
        raw, r = json.loads((folder / "results.json").read_text()), run.results
        if raw.get("schema_version", 1) >= 2:  # the trainers' schema: read as it is, nothing to migrate
            continue
        kinds[r.kind] += 1
        assert r.kind == run.summary["kind"] and r.method == run.summary["method"] and r.data == run.summary["data"]
        assert r.evaluation is not None and len(r.evaluation["per_episode"]) == r.evaluation["episodes"] > 0
        assert run.evaluation is r.evaluation and r.evaluation["success"] == raw.get("heldout", raw)["success"]
        if r.kind == "bc":  # schema 1's frames were dataset frames; the frames trained on are the epochs' passes
            assert r.dataset_frames == raw["frames"] and r.epochs == raw["epochs_run"] == len(r.history)
            assert r.frames == r.epochs * raw["train_frames"] > 0
        else:
            assert r.frames == raw["frames"] and r.training["target_frames"] == raw["target_frames"]
            assert "per_episode" not in r.training and "target_frames" not in r.evaluation
        assert r.alphas == raw.get("alphas", {})  # runs/head_pilot's first runs recorded no α
        assert r.alpha_trajectory == raw.get("alpha_trajectory", [])
        tree = r.to_json()
        text = json.dumps(tree, allow_nan=False)  # migrated, it is strict JSON
        again = parse_results({**json.loads(text), "schema_version": SCHEMA_VERSION}, run.summary)
        assert again.to_json() == {**tree, "schema_version": SCHEMA_VERSION}
    assert kinds["bc"] >= 100 and kinds["ppo"] >= 12  # runs/imitation* and runs/ppo_*


def test_the_committed_ppo_report_is_regenerated_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    committed = ROOT / "runs" / "ppo_prior"
    copy = tmp_path / "runs" / "ppo_prior"
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("tb", "checkpoints", "plots", "report.*"))
    monkeypatch.chdir(tmp_path)  # the report names its folder relative to the working directory
    build_report(Path("runs/ppo_prior"), log=lambda _: None)
    assert (copy / "report.md").read_bytes() == (committed / "report.md").read_bytes()
    assert json.loads((copy / "report.json").read_text()) == json.loads((committed / "report.json").read_text())


def test_runs_without_a_policy_field_pool_with_runs_setting_its_default(experiment: Path, tmp_path: Path) -> None:
    """Seeds that write policy.base_precision=float32 (the default) pool with the grid's runs, whose configs lack
    the field; seeds that set another value (bfloat16) stay a variant of their own. The α table keeps merging
    methods apart."""
    later = tmp_path / "imitation_more"
    for seed, precision in ((3, "float32"), (4, "float32"), (5, "bfloat16"), (6, "bfloat16")):
        _run(later, "sidetune", "curvature", 49, seed, 0.70, alpha=0.6)
        _run(later, "sidetune-l2sp", "curvature", 49, seed, 0.70, alpha=0.9)
        for method in ("sidetune", "sidetune-l2sp"):
            path = later / f"{method}-curvature-49-seed{seed}" / "config.yaml"
            cfg = yaml.safe_load(path.read_text())
            cfg["policy"]["base_precision"] = precision
            path.write_text(yaml.safe_dump(cfg))
    out = build_report(later, log=lambda _: None, partners=[experiment])["report"]
    sidetune = {a.get("variant", ""): a for a in out["alphas"] if a["data"] == 49 and a["method"] == "sidetune"}
    assert sidetune["[policy.base_precision=float32]"]["seeds"] == 5  # the grid's seeds 0-2 (no field) + seeds 3-4
    assert sidetune["[policy.base_precision=bfloat16]"]["seeds"] == 2
    l2sp = [a for a in out["alphas"] if a["method"] == "sidetune-l2sp"]
    assert l2sp and all(a["mean"] == pytest.approx(0.9) for a in l2sp)  # never pooled with sidetune's α


def test_runs_without_an_env_field_pool_with_runs_setting_its_default(experiment: Path, tmp_path: Path) -> None:
    """Seeds that record env.num_val_buildings=8 (the default; a field added after the grid's seeds ran) pool with
    the grid's seeds, whose configs lack it; a seed with another value stays a variant of its own."""
    later = tmp_path / "imitation_more"
    for seed, val in ((3, 8), (4, 8), (5, 4)):
        _run(later, "features", "curvature", 49, seed, 0.70)
        path = later / f"features-curvature-49-seed{seed}" / "config.yaml"
        cfg = yaml.safe_load(path.read_text())
        assert "num_val_buildings" not in cfg["env"]
        cfg["env"]["num_val_buildings"] = val
        path.write_text(yaml.safe_dump(cfg))
    rows = build_report(later, log=lambda _: None, partners=[experiment])["report"]["rows"]
    features = {r["group"]: r["runs"] for r in rows if r["group"].startswith("bc features base=curvature data=49 ")}
    assert features == {
        "bc features base=curvature data=49 traj [env.num_val_buildings=8]": 5,  # the grid's seeds 0-2 + seeds 3-4
        "bc features base=curvature data=49 traj [env.num_val_buildings=4]": 1,
    }
