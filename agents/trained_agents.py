"""Trained agents that ship with the toolkit (``trained_agents/<name>/``), loadable by name.

Each agent folder holds ``policy.pt`` (the policy's weights only, float32, no optimizer state), ``config.yaml``
(the run config it was trained with, evaluated in float32), ``evaluation.json`` (the held-out evaluation its source
run recorded for that checkpoint, per episode), ``results.json`` (the source run's, once it has finished) and
``agent.json`` (where it came from, those figures, the SHA-256 of policy.pt and the outcomes of a small
deterministic reproduction set). ``materialize`` turns an agent into an ordinary run folder, so
``scripts/evaluate.py``, videos, reports and ``train.init_from`` work on it unchanged; ``export_agent`` makes an
agent from a run's checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from agents.run.run_config import RunConfig
from agents.run.run_dir import RunDir, checkout_version, finite_json
from agents.run.trainers import trainer_of_config
from common.atomic_io import atomic_path, atomic_write_text, file_sha256
from common.config import did_you_mean
from common.errors import BadInputError, MissingFileError

TRAINED_AGENTS_DIR = Path(__file__).resolve().parent.parent / "trained_agents"
POLICY_FILE, CONFIG_FILE, INFO_FILE = "policy.pt", "config.yaml", "agent.json"
EVALUATION_FILE, RESULTS_FILE = "evaluation.json", "results.json"  # the source run's records
AGENTS_EXPERIMENT = "agents"  # materialized agents: <runs_root>/agents/<name>/
# The reproduction set: the first held-out episode of each of the 14 buildings, argmax actions, float32, so that
# the recorded outcomes do not hang on sampled actions.
REPRODUCTION = {"split": "heldout", "episodes_per_building": 1, "num_envs": 14, "seed": 0, "deterministic": True}
EVALUATION_PRECISION = {"base_precision": "float32", "train_precision": "float32"}


def agent_names(folder: Path = TRAINED_AGENTS_DIR) -> list[str]:
    """The shipped agents' names (folders holding an agent.json)."""
    return sorted(p.parent.name for p in folder.glob(f"*/{INFO_FILE}"))


def agent_folder(name: str, folder: Path = TRAINED_AGENTS_DIR) -> Path:
    """The folder of the shipped agent ``name``; a BadInputError naming the shipped ones otherwise."""
    path = folder / name
    if not (path / INFO_FILE).is_file():
        names = agent_names(folder)
        raise BadInputError(
            "agent", f"{name!r} is not a shipped agent", f"{did_you_mean(name, names)}shipped: {', '.join(names)}"
        )
    return path


def read_agent(name: str, folder: Path = TRAINED_AGENTS_DIR) -> dict[str, Any]:
    """The agent's agent.json."""
    return json.loads((agent_folder(name, folder) / INFO_FILE).read_text())


def agent_config(name: str, folder: Path = TRAINED_AGENTS_DIR) -> RunConfig:
    """The agent's run config (float32 numerics)."""
    from omegaconf import OmegaConf

    from agents.run.run_config import complete_saved_config

    tree = OmegaConf.to_container(OmegaConf.load(agent_folder(name, folder) / CONFIG_FILE))
    return RunConfig.from_dict(complete_saved_config(tree))


def verified_weights(name: str, folder: Path = TRAINED_AGENTS_DIR) -> dict[str, torch.Tensor]:
    """policy.pt's state dict, after checking its SHA-256 against agent.json (a damaged or swapped file is an
    error, not a silently different agent)."""
    path = agent_folder(name, folder) / POLICY_FILE
    if not path.is_file():
        raise MissingFileError("agent", f"{path} is missing", "restore it from git (git checkout -- trained_agents)")
    expected = read_agent(name, folder)["policy_sha256"]
    if file_sha256(path) != expected:
        raise BadInputError(
            "agent",
            f"{path} does not match the SHA-256 in agent.json ({expected[:12]}...)",
            "restore it from git (it may be a Git LFS pointer or damaged)",
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def load_agent(name: str, device: str = "cpu", folder: Path = TRAINED_AGENTS_DIR) -> tuple[Any, RunConfig]:
    """The shipped agent as an SB3 model (SideTunePPO) with a fresh optimizer, and its run config."""
    cfg = agent_config(name, folder)
    return _model_with(cfg, verified_weights(name, folder), device), cfg


def _model_with(cfg: RunConfig, weights: dict[str, torch.Tensor], device: str = "cpu") -> Any:
    """The model ``cfg`` builds (its spaces from a one-env vec env), holding ``weights`` as its policy."""
    from agents.run.env_builder import make_vec_env
    from agents.run.model_builder import build_model

    venv = make_vec_env(cfg, 1, cfg.eval.split, 0)
    try:
        with warnings.catch_warnings():  # SB3 on a one-env rollout shorter than a batch: no rollout here
            warnings.filterwarnings("ignore", message="You have specified a mini-batch size")
            model = build_model(cfg, venv, device=device)
    finally:
        venv.close()
    model.policy.load_state_dict(weights)
    return model


def with_run(cfg: RunConfig, **run: Any) -> RunConfig:
    """``cfg`` with some `run:` fields replaced."""
    return dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, **run))


def materialize(name: str, runs_root: str | Path = "runs", folder: Path = TRAINED_AGENTS_DIR) -> Path:
    """``<runs_root>/agents/<name>/``: a run folder (config.yaml, checkpoints/best.zip) holding the shipped agent,
    made once and reused while its policy.pt is unchanged; returns its path."""
    from agents.run.model_builder import save_model

    info = read_agent(name, folder)
    root = Path(runs_root).expanduser() / AGENTS_EXPERIMENT / name
    marker = root / "agent_source.json"
    if marker.is_file() and json.loads(marker.read_text()).get("policy_sha256") == info["policy_sha256"]:
        return root
    model, cfg = load_agent(name, "cpu", folder)
    run = RunDir(root)
    root.mkdir(parents=True, exist_ok=True)
    run.lock()
    run.checkpoints.mkdir(exist_ok=True)
    cfg = with_run(cfg, experiment=AGENTS_EXPERIMENT, name=name, runs_root=str(runs_root))
    run.write_config(cfg)
    save_model(model, run.checkpoints / "best.zip")
    source = {"agent": name, "policy_sha256": info["policy_sha256"], "from": str(folder / name)}
    atomic_write_text(marker, json.dumps(source, indent=2))
    return root


def recorded_evaluation(run: RunDir, checkpoint: Path) -> dict[str, Any] | None:
    """The full held-out evaluation the source run recorded for this checkpoint, as reports read it
    (agents/evaluation/run_folder.py): the milestone evaluation of ``frames-<N>.zip``, else that of the run's final
    checkpoint; None when there is none yet."""
    from agents.evaluation.run_folder import read_run_folder

    at = int(checkpoint.stem.split("-")[1]) if checkpoint.stem.startswith("frames-") else None
    folder = read_run_folder(run.root, at)
    if folder.evaluation is None or at is not None:
        return folder.evaluation
    results = folder.results  # the final evaluation: with the frames and numerics of the run that made it
    return {**folder.evaluation, "frames": results.frames, "numerics": results.numerics} if results else None


def evaluation_summary(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    """agent.json's lines of an evaluation: frames, success and SPL means, the success interval, episodes."""
    if evaluation is None:
        return None
    keys = ("frames", "episodes", "split", "numerics")
    return {
        "success": evaluation["success"]["mean"],
        "spl": evaluation["spl"]["mean"],
        "success_ci95": evaluation["success"].get("ci95"),
        **{key: evaluation[key] for key in keys if evaluation.get(key) is not None},
    }


def export_agent(
    checkpoint: str | Path,
    name: str,
    description: str,
    folder: Path = TRAINED_AGENTS_DIR,
) -> Path:
    """Write ``folder/<name>/`` from a run's checkpoint: policy.pt, config.yaml (float32 numerics) and
    agent.json with the reproduction set's per-episode outcomes; returns the folder."""
    from agents.evaluation.evaluate import evaluate_policy
    from agents.run.cli import read_run_config
    from agents.run.model_builder import load_model

    checkpoint = Path(checkpoint)
    run_root = checkpoint.parent.parent
    run = RunDir.open(run_root)
    cfg = read_run_config(run)
    cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, **EVALUATION_PRECISION))
    model = load_model(checkpoint, device="cpu")
    out = folder / name
    out.mkdir(parents=True, exist_ok=True)
    weights = model.policy.state_dict()  # the shared extractor's aliases (pi_/vf_) share storage: saved once
    with atomic_path(out / POLICY_FILE) as tmp:
        torch.save(weights, tmp)
    RunDir(out).write_config(cfg)
    reloaded = _model_with(cfg, torch.load(out / POLICY_FILE, map_location="cpu", weights_only=True))
    result = evaluate_policy(reloaded, cfg, cfg.eval.replace(videos=0, **REPRODUCTION), progress=False)
    keys = ("episode_id", "building", "success", "spl", "steps")
    trainer = trainer_of_config(cfg.to_dict()).name
    recorded = recorded_evaluation(run, checkpoint)
    saved = json.loads(run.results_path.read_text()) if run.results_path.is_file() else {}
    code = saved.get("code") or checkout_version(run_root)  # a run still training: the checkout it trains in
    info = {
        "name": name,
        "description": description,
        "trainer": trainer,
        "method": cfg.policy.method,
        "base": cfg.policy.base,
        "frames": int(model.num_timesteps) if trainer == "ppo" else saved.get("frames"),
        "source": {
            "run": f"runs/{run_root.parent.name}/{run_root.name}",  # as committed in git
            "checkpoint": checkpoint.name,
            "commit": code.get("commit"),
            "dirty": code.get("dirty"),
            "evaluation": evaluation_summary(recorded),
        },
        "policy_sha256": file_sha256(out / POLICY_FILE),
        "policy_bytes": (out / POLICY_FILE).stat().st_size,
        "reproduction": {
            "settings": REPRODUCTION,
            "success": result["success"]["mean"],
            "per_episode": [{key: ep[key] for key in keys} for ep in result["per_episode"]],
        },
    }
    if recorded is not None:  # per episode, as the source run recorded it
        atomic_write_text(out / EVALUATION_FILE, json.dumps(recorded, indent=2, sort_keys=True))
    if run.results_path.is_file():  # the source run's own record of its training, once it has finished
        atomic_write_text(out / RESULTS_FILE, run.results_path.read_text())
    atomic_write_text(out / INFO_FILE, json.dumps(finite_json(info), indent=2) + "\n")
    return out
