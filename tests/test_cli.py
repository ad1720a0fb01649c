"""The shared trainer CLI: config layering, fresh vs resumed run folders, refusing a changed config."""

from __future__ import annotations

import pytest

from agents.run.cli import base_parser, config_differences, open_run, resolve_config
from agents.run.config_loader import ConfigFileError


def _args(argv: list[str]):
    return base_parser("test").parse_args(argv)


def test_flags_and_overrides_layer_over_defaults(tmp_path):
    args = _args(["--seed", "7", f"run.runs_root={tmp_path}", "policy.head_channels=16"])
    cfg = resolve_config(args, "evaluate", {})
    assert cfg.run.seed == 7 and cfg.policy.head_channels == 16 and cfg.policy.method == "sidetune"


def test_unknown_key_is_refused():
    with pytest.raises(ConfigFileError, match="policy.methd: unknown key"):
        resolve_config(_args(["policy.methd=features"]), "evaluate")


def test_resume_reuses_the_run_and_refuses_a_different_config(tmp_path):
    cfg = resolve_config(_args([f"run.runs_root={tmp_path}", "run.name=a"]), "evaluate")
    run, _, resumed = open_run(cfg, None)
    assert not resumed and run.config_path.exists()
    before = run.config_path.read_text()
    again, saved, resumed = open_run(cfg, str(run.root))
    assert resumed and again.root == run.root and saved.policy.method == "sidetune"
    changed = resolve_config(_args([f"run.runs_root={tmp_path}", "policy.method=features"]), "evaluate")
    with pytest.raises(ConfigFileError, match="policy.method"):
        open_run(changed, str(run.root))
    assert run.config_path.read_text() == before
    with pytest.raises(FileExistsError):
        open_run(cfg, None)  # same run.name: never overwritten


def test_config_differences_names_dotted_keys():
    assert config_differences({"a": {"b": 1}, "c": 2}, {"a": {"b": 2}, "c": 2}) == ["a.b: run has 1, asked 2"]
