"""The typed run configuration: every shipped preset parses, the written config.yaml reads back to the same
config, values are typed by field, and a resumed run drops the temp files a killed write left behind."""

from __future__ import annotations

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
    present = {section for section in ("run", "policy", "eval", "ppo", "train", "bc", "pretrain") if getattr(cfg, section) is not None}
    assert present | {"env"} == set(PRESETS[name])
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_values_are_typed_by_field():
    cfg = load_run_config("ppo.yaml", overrides=["ppo.ent_coef=0", "ppo.total_frames=1e5", "run.name=007", "env.resolution=64.0", "policy.base=random"])
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
    cfg = load_run_config("bc.yaml", overrides=[f"run.runs_root={tmp_path}", "run.name=a", "env.resolution=32", "policy.base=random"])
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
