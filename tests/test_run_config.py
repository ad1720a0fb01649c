"""The typed run configuration: every shipped preset parses, the written config.yaml reads back to the same
config, values are typed by field, and a resumed run drops the temp files a killed write left behind."""

from __future__ import annotations

import os

import pytest

from agents.run.cli import open_run, read_run_config
from agents.run.config_loader import load_run_config
from agents.run.run_config import RunConfig
from common.config import ConfigError

PRESETS = {
    "ppo.yaml": ("run", "env", "policy", "eval", "ppo", "train"),
    "ppo_gpu.yaml": ("run", "env", "policy", "eval", "ppo", "train"),
    "bc.yaml": ("run", "env", "policy", "eval", "bc"),
    "pretrain.yaml": ("env", "pretrain"),
    "evaluate.yaml": ("run", "env", "policy", "eval"),
}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_parses_and_round_trips(name):
    cfg = load_run_config(name, require=PRESETS[name])
    present = {
        section
        for section in ("run", "policy", "eval", "ppo", "train", "bc", "pretrain")
        if getattr(cfg, section) is not None
    }
    assert present | {"env"} == set(PRESETS[name])
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_values_are_typed_by_field():
    cfg = load_run_config(
        "ppo.yaml",
        overrides=[
            "ppo.ent_coef=0",
            "ppo.total_frames=1e5",
            "run.name=007",
            "env.resolution=64.0",
            "policy.base=random",
        ],
    )
    assert cfg.ppo.ent_coef == 0.0 and isinstance(cfg.ppo.ent_coef, float)
    assert cfg.ppo.total_frames == 100000 and isinstance(cfg.ppo.total_frames, int)
    assert cfg.run.name == "7" and cfg.env.resolution == 64  # YAML read 007 as a number; the field is a string
    with pytest.raises(ConfigError, match=r"^env.reward.slack: 'x' is not a number \(give a number"):
        load_run_config("ppo.yaml", overrides=["env.reward.slack=x"])
    with pytest.raises(ConfigError, match=r"^train.final_eval: 1 is not true or false"):
        load_run_config("ppo.yaml", overrides=["train.final_eval=1"])
    with pytest.raises(ConfigError, match=r"^bc: section missing"):
        load_run_config("ppo.yaml", require=("bc",))


def test_written_config_resumes_and_stale_temp_files_are_removed(tmp_path):
    cfg = load_run_config(
        "bc.yaml", overrides=[f"run.runs_root={tmp_path}", "run.name=a", "env.resolution=32", "policy.base=random"]
    )
    run, _, _ = open_run(cfg, None)
    assert read_run_config(run) == cfg
    stale = run.checkpoints / ".last.zip.k2j3h4.tmp"
    stale.write_bytes(b"")  # what a SIGKILL during atomic_path leaves
    kept = run.checkpoints / "last.zip"
    kept.write_bytes(b"x")
    again, saved, resumed = open_run(cfg, str(run.root))
    assert resumed and saved == cfg and not stale.exists() and kept.exists()


def test_buildings_must_exist_and_cover_every_split_the_job_uses():
    from envs.config import EnvConfig
    from envs.factory import building_names

    train, heldout = building_names(EnvConfig(), "train")[0], building_names(EnvConfig(), "heldout")[0]
    cfg = load_run_config("ppo.yaml", overrides=[f"env.buildings=[{train},{heldout}]"])
    assert cfg.env.buildings == [train, heldout]
    with pytest.raises(ConfigError, match=rf"^env.buildings: none of \['{train}'\] is in the heldout split"):
        load_run_config("ppo.yaml", overrides=[f"env.buildings=[{train}]"])  # eval.split is heldout
    assert load_run_config("pretrain.yaml", overrides=[f"env.buildings=[{train}]"]).env.buildings == [train]


def test_policy_config_travels_whole_and_flat_kwargs_checkpoints_still_load(tmp_path):
    """build_model stores the PolicyConfig object in SB3's policy_kwargs; a checkpoint that stores the policy config
    as flat extractor keyword arguments (like every checkpoint in runs/) loads into the same policy."""
    import torch
    from stable_baselines3 import PPO

    from agents.run.env_builder import make_vec_env
    from agents.run.model_builder import build_model, load_model, save_model
    from policies.extractor import policy_kwargs
    from policies.methods import PolicyConfig
    from policies.sb3_policy import SideTunePolicy

    cfg = load_run_config(
        "ppo.yaml",
        None,
        None,
        [
            "env.resolution=32",
            "policy.base=random",
            "policy.features_dim=32",
            "ppo.n_steps=16",
            "ppo.batch_size=16",
            "train.num_envs=2",
            f"run.runs_root={tmp_path}",
            "run.device=cpu",
        ],
    )
    venv = make_vec_env(cfg, 2, "train", 0)
    try:
        whole = build_model(cfg, venv, device="cpu")
        assert whole.policy_kwargs["features_extractor_kwargs"] == {"config": cfg.policy}
        flat_kwargs = policy_kwargs(cfg.policy)
        flat_kwargs["features_extractor_kwargs"] = cfg.policy.to_dict()  # the config's fields as flat keywords
        flat = PPO(SideTunePolicy, venv, policy_kwargs=flat_kwargs, n_steps=16, batch_size=16, seed=0, device="cpu")
        for model, name in ((whole, "whole.zip"), (flat, "flat.zip")):
            save_model(model, tmp_path / name)
            loaded = load_model(tmp_path / name, device="cpu", env=venv)
            extractor = loaded.policy.features_extractor
            assert isinstance(extractor.config, PolicyConfig) and extractor.config == cfg.policy
            theirs, ours = model.policy.state_dict(), loaded.policy.state_dict()
            assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)
    finally:
        venv.close()
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "whole.zip").stat().st_mode & 0o777 == 0o666 & ~umask  # as any file open() makes


def test_one_resolution_rule_and_pretraining_needs_no_clamp():
    from envs.config import EnvConfig
    from policies.contract import check_image_size

    assert EnvConfig(resolution=16).resolution == 16  # the same minimum as the encoders and pretraining
    for bad in (8, 40, 2048):
        with pytest.raises(ConfigError, match=f"env.resolution: {bad} is unsupported"):
            EnvConfig(resolution=bad)
        with pytest.raises(ConfigError, match=f"the base: image height: {bad} is unsupported"):
            check_image_size(bad, 64, "the base")


def test_alpha_init_one_fails_at_the_door_with_the_merge_rule():
    with pytest.raises(
        ConfigError, match=r"^policy.alpha_init: a learned α is sigmoid\(logit\) and cannot start at exactly 1.0"
    ):
        load_run_config("bc.yaml", None, None, ["policy.alpha_init=1.0"])
    assert (
        load_run_config(
            "bc.yaml", None, None, ["policy.alpha_init=1.0", "policy.alpha_learned=false"]
        ).policy.alpha_init
        == 1.0
    )


def test_a_run_is_finished_once_its_results_are_written_unless_a_time_limit_stopped_it(tmp_path):
    from agents.run.run_dir import RunDir

    run = RunDir(tmp_path)
    assert not run.finished()  # no results.json yet: resumable
    run.write_results({"frames": 64, "stopped_by_time_limit": True})
    assert not run.finished()  # train.max_minutes stopped it: --resume continues it
    run.write_results({"frames": 128, "stopped_by_time_limit": False})
    assert run.finished()
    run.results_path.write_text("{")  # damaged: the resumed run rewrites it
    assert not run.finished()
