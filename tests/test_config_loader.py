"""Layered configs: dataclass defaults, presets and their bases, overrides, unknown keys rejected, run folders never
overwritten."""

from pathlib import Path

import pytest

from agents.run import config_loader
from agents.run.config_loader import ConfigFileError, load_layers
from agents.run.run_dir import RunDir


@pytest.fixture()
def config_dir(tmp_path, monkeypatch):
    (tmp_path / "base.yaml").write_text("env:\n  resolution: 64\n  split: heldout\n")
    (tmp_path / "job.yaml").write_text("_trainer_: pretrain\n_base_: base.yaml\npretrain:\n  learning_rate: 0.01\n")
    monkeypatch.setattr(config_loader, "CONFIG_DIR", tmp_path)
    return tmp_path


def test_layers_apply_in_order(config_dir, tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("pretrain:\n  steps: 20\n")
    cfg = load_layers("job", str(user), {"env.resolution": 32, "pretrain.learning_rate": None}, ["pretrain.steps=30"])
    assert cfg.env.resolution == 32  # flag
    assert cfg.env.split == "heldout"  # the preset's base file
    assert cfg.env.max_steps == 500  # the dataclass default, in no file
    assert cfg.pretrain.learning_rate == 0.01  # None flags do not override
    assert cfg.pretrain.steps == 30  # key=value wins over --config
    assert "policy" not in cfg  # the job (pretrain) decides the sections


def test_unknown_key_is_rejected_with_its_name(config_dir):
    with pytest.raises(ConfigFileError, match="pretrain.stepz"):
        load_layers("job", overrides=["pretrain.stepz=3"])
    with pytest.raises(ConfigFileError, match="^ppo: unknown key"):  # a section of another job
        load_layers("job", overrides=["ppo.n_steps=3"])


def test_malformed_override_and_missing_file(config_dir):
    with pytest.raises(ConfigFileError, match="key=value"):
        load_layers("job", overrides=["pretrain.steps"])
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_layers("job", config_file="/nonexistent.yaml")
    with pytest.raises(ConfigFileError, match="neither a preset nor a file.*did you mean `job`"):
        load_layers("jbo")


def test_a_config_file_of_another_job_is_refused(config_dir):
    (config_dir / "other.yaml").write_text("_trainer_: bc\n")
    with pytest.raises(ConfigFileError, match="configures bc, not pretrain.*scripts/bc.py"):
        load_layers("job", config_file=str(config_dir / "other.yaml"))
    (config_dir / "nojob.yaml").write_text("env:\n  resolution: 64\n")
    with pytest.raises(ConfigFileError, match="names no job"):
        load_layers("nojob")


def test_run_dir_refuses_to_overwrite(tmp_path):
    run = RunDir.create(tmp_path, "exp", "a")
    run.write_config({"x": 1})
    with pytest.raises(FileExistsError, match="--resume"):
        RunDir.create(tmp_path, "exp", "a")
    assert RunDir.open(run.root).read_config().x == 1
    with pytest.raises(FileNotFoundError):
        RunDir.open(Path(tmp_path) / "nope")


def test_a_cached_config_file_is_read_again_when_it_or_a_base_changes_and_copies_are_independent(config_dir):
    """Config files are parsed once per process (every sweep cell reads the same presets); an edited file or
    ``_base_`` file is read again, and changing one loaded config leaves the next one as the files say."""
    import os

    first = load_layers("job")
    first.pretrain.steps = 99  # the caller's copy
    assert load_layers("job").pretrain.steps == 1500
    base = config_dir / "base.yaml"
    base.write_text("env:\n  resolution: 32\n  split: train\n")
    os.utime(base, ns=(base.stat().st_atime_ns, base.stat().st_mtime_ns + 1_000_000))  # a later mtime, even if coarse
    assert load_layers("job").env.resolution == 32
    base.unlink()
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_layers("job")
