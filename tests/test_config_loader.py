"""Layered configs: bases, overrides, unknown keys rejected, run folders never overwritten."""

from pathlib import Path

import pytest

from agents.run import config_loader
from agents.run.config_loader import ConfigFileError, load_config
from agents.run.run_dir import RunDir


@pytest.fixture()
def config_dir(tmp_path, monkeypatch):
    (tmp_path / "base.yaml").write_text("env:\n  resolution: 128\n  split: train\n")
    (tmp_path / "job.yaml").write_text("_base_: base.yaml\njob:\n  lr: 0.001\n  steps: 10\n")
    monkeypatch.setattr(config_loader, "CONFIG_DIR", tmp_path)
    return tmp_path


def test_layers_apply_in_order(config_dir, tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("job:\n  steps: 20\n")
    cfg = load_config("job.yaml", str(user), {"env.resolution": 64, "job.lr": None}, ["job.steps=30"])
    assert cfg.env.resolution == 64  # flag
    assert cfg.env.split == "train"  # base
    assert cfg.job.lr == 0.001  # None flags do not override
    assert cfg.job.steps == 30  # key=value wins over --config


def test_unknown_key_is_rejected_with_its_name(config_dir):
    with pytest.raises(ConfigFileError, match="job.stepz"):
        load_config("job.yaml", overrides=["job.stepz=3"])


def test_malformed_override_and_missing_file(config_dir):
    with pytest.raises(ConfigFileError, match="key=value"):
        load_config("job.yaml", overrides=["job.steps"])
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_config("job.yaml", config_file="/nonexistent.yaml")


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

    first = load_config("job.yaml")
    first.job.steps = 99  # the caller's copy
    assert load_config("job.yaml").job.steps == 10
    base = config_dir / "base.yaml"
    base.write_text("env:\n  resolution: 64\n  split: train\n")
    os.utime(base, ns=(base.stat().st_atime_ns, base.stat().st_mtime_ns + 1_000_000))  # a later mtime, even if coarse
    assert load_config("job.yaml").env.resolution == 64
    base.unlink()
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_config("job.yaml")
