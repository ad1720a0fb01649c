"""The shipped trained agents (trained_agents/): each loads from its files, matches its checksum and reproduces the
per-episode outcomes recorded for it; names and damaged files get one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agents.evaluation.evaluate import evaluate_policy
from agents.trained_agents import (
    EVALUATION_FILE,
    POLICY_FILE,
    REPRODUCTION,
    TRAINED_AGENTS_DIR,
    agent_names,
    load_agent,
    materialize,
    read_agent,
)
from common.errors import BadInputError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("ppo-sidetune-curvature", "ppo-features-curvature", "bc-sidetune-curvature-4900")


def test_the_documented_agents_ship_small():
    assert set(SHIPPED) <= set(agent_names())
    for name in agent_names():
        info = read_agent(name)
        size = (TRAINED_AGENTS_DIR / name / POLICY_FILE).stat().st_size
        assert size == info["policy_bytes"] < 10e6, name  # policy weights only, a few MB
        source = info["source"]
        assert source["commit"] and source["dirty"] is False, name  # clean, named code
        recorded = json.loads((TRAINED_AGENTS_DIR / name / EVALUATION_FILE).read_text())  # the source's, per episode
        assert recorded["episodes"] == len(recorded["per_episode"]) == 420 and recorded["split"] == "heldout"
        assert source["evaluation"]["success"] == pytest.approx(recorded["success"]["mean"])


@pytest.mark.parametrize("name", agent_names())
def test_a_shipped_agent_reproduces_its_recorded_episodes(name):
    model, cfg = load_agent(name)  # checks policy.pt's SHA-256 first
    recorded = read_agent(name)["reproduction"]
    assert recorded["settings"] == REPRODUCTION
    result = evaluate_policy(model, cfg, cfg.eval.replace(videos=0, **REPRODUCTION), progress=False)
    got = [(ep["episode_id"], ep["success"], ep["steps"]) for ep in result["per_episode"]]
    assert got == [(ep["episode_id"], ep["success"], ep["steps"]) for ep in recorded["per_episode"]]
    assert [ep["spl"] for ep in result["per_episode"]] == pytest.approx([ep["spl"] for ep in recorded["per_episode"]])


def test_a_damaged_or_unknown_agent_is_one_clear_error(tmp_path):
    name = agent_names()[0]
    shutil.copytree(TRAINED_AGENTS_DIR / name, tmp_path / name)
    (tmp_path / name / POLICY_FILE).write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(BadInputError, match="does not match the SHA-256"):
        load_agent(name, folder=tmp_path)
    with pytest.raises(BadInputError, match="did you mean"):
        read_agent(name[:-1], folder=TRAINED_AGENTS_DIR)
    typo = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"), name[:-1]], capture_output=True, text=True, cwd=tmp_path
    )
    assert typo.returncode == 2 and typo.stderr.count("\n") == 1 and f"did you mean `{name}`" in typo.stderr


def test_materialize_makes_a_run_folder_once(tmp_path):
    name = agent_names()[0]
    root = materialize(name, tmp_path)
    assert (root / "config.yaml").is_file() and (root / "checkpoints" / "best.zip").is_file()
    stamp = (root / "checkpoints" / "best.zip").stat().st_mtime_ns
    assert materialize(name, tmp_path) == root and (root / "checkpoints" / "best.zip").stat().st_mtime_ns == stamp
    assert json.loads((root / "agent_source.json").read_text())["policy_sha256"] == read_agent(name)["policy_sha256"]
