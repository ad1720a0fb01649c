"""The dataclasses are the one config schema: every preset and sweep key is one of their fields, a preset holds only
what it changes, every field has its help line, and a preset builds the same model from the command line, the
Python API and the habitat-baselines plugin."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
import yaml

from agents.commands.train_ppo import build_parser
from agents.run.cli import parse_args, resolve_config
from agents.run.config_help import config_rows, format_config_help
from agents.run.config_loader import CONFIG_DIR, TRAINER_KEY, load_layers, preset_names, to_container
from agents.run.presets import load_config
from agents.run.run_config import RunConfig, complete_saved_config
from agents.run.trainers import trainer_spec
from agents.sweeps.sweep import cell_config, expand, load_sweep
from common.config import ConfigError
from policies.methods import PolicyConfig, build_encoder
from sidetune_habitat_baselines.policy_config import UNSET, policy_config_of, policy_fields_node

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = sorted((ROOT / "sweeps").glob("*.yaml"))


def _leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    """Dotted key -> value of every leaf of a nested mapping (YAML meta keys such as _base_ left out)."""
    out: dict[str, object] = {}
    for key, value in tree.items():
        if str(key).startswith("_"):
            continue
        dotted = f"{prefix}{key}"
        out.update(_leaves(value, f"{dotted}.") if isinstance(value, dict) else {dotted: value})
    return out


def test_presets_are_the_files_that_name_their_job():
    assert {"ppo", "ppo_gpu", "bc", "pretrain", "evaluate"} <= set(preset_names())
    for name in preset_names():
        cfg = load_config(name)
        sections = {f.name for f in dataclasses.fields(RunConfig) if getattr(cfg, f.name) is not None}
        job = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()).get(TRAINER_KEY) or "ppo"  # ppo_gpu: its base's
        assert sections == {"env", "frame_stack", *trainer_spec(job).sections}, name


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_key_of_a_config_file_is_a_schema_field_and_no_value_restates_the_layer_below(path):
    """A preset (or a fragment it includes) changes values; a key that is not a field, or a value equal to what the
    layers below already give, fails here: each default is written once, in its dataclass."""
    own = yaml.safe_load(path.read_text()) or {}
    bases = own.get("_base_") or []
    bases = [bases] if isinstance(bases, str) else bases
    if TRAINER_KEY in own:  # a preset: its job's dataclass defaults, then its _base_ fragments
        below = load_layers_without(path)
    elif bases:  # a preset built on another preset (ppo_gpu on ppo)
        below = load_layers(bases[0])
    else:  # a fragment a preset includes: checked against every section's defaults
        below = _defaults_of_all_sections()
    below_leaves = _leaves(to_container(below))
    for key, value in _leaves(own).items():
        assert key in below_leaves, f"{path.name}: {key} is not a config field"
        assert below_leaves[key] != value, f"{path.name}: {key}: {value!r} restates the value below it"


def load_layers_without(path: Path):
    """The layers under ``path``: its job's dataclass defaults, then its _base_ files (not ``path`` itself)."""
    from agents.run.config_loader import _read_yaml, apply_strict, defaults_tree

    own = yaml.safe_load(path.read_text()) or {}
    below = defaults_tree(own[TRAINER_KEY])
    bases = own.get("_base_") or []
    for base in [bases] if isinstance(bases, str) else bases:
        tree = _read_yaml(path.parent / base)
        tree.pop(TRAINER_KEY, None)
        below = apply_strict(below, tree, str(base))
    return below


def _defaults_of_all_sections():
    from omegaconf import OmegaConf

    from agents.run.run_config import SECTIONS

    return OmegaConf.create({name: dataclasses.asdict(cls()) for name, cls in SECTIONS.items()} | {"frame_stack": 1})


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_key_of_a_sweep_is_a_schema_field(path):
    """Each sweep's first cell resolves strictly: grid axes and overrides name fields of its job's sections."""
    spec = load_sweep(path)
    cell = expand(spec)[0]
    cfg = cell_config(spec, cell)
    assert isinstance(cfg, RunConfig)


def test_an_unknown_key_in_a_sweep_fails_naming_it(tmp_path):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text("trainer: ppo\nexperiment: x\ngrid: {seed: [0]}\noverrides: [ppo.n_stepz=3]\n")
    spec = load_sweep(sweep)
    with pytest.raises(ConfigError, match="ppo.n_stepz: unknown key.*did you mean `n_steps`"):
        cell_config(spec, expand(spec)[0])


def test_every_field_has_a_help_line_and_help_config_lists_it_with_its_value():
    cfg = load_config("ppo_gpu", ["policy.side=fcn5_small"])
    rows = {key: (default, value, text) for key, default, value, text in config_rows(cfg)}
    missing = [key for key, (_, _, text) in rows.items() if not text]
    assert not missing, f"fields without a help line: {missing}"
    assert rows["ppo.n_steps"][:2] == ("128", "80")  # the default, the preset's value
    assert rows["policy.side"][:2] == ("fcn5_small", "fcn5_small")
    assert "choices: " in rows["policy.method"][2] and "sidetune-l2sp" in rows["policy.method"][2]
    text = format_config_help(cfg, "ppo_gpu")
    assert re.search(r"^\* env\.resolution\s+128\s+256\s", text, re.M)
    assert re.search(r"^  ppo\.gamma\s+0\.99\s+0\.99\s", text, re.M)


def test_a_saved_config_that_lacks_a_later_field_reads_as_what_its_run_ran_with():
    tree = load_config("ppo").to_dict()
    del tree["policy"]["base_precision"]
    assert RunConfig.from_dict(complete_saved_config(tree)).policy.base_precision == "float32"
    assert RunConfig.from_dict(complete_saved_config(load_config("ppo").to_dict())).policy.base_precision == "auto"
    flat = load_config("ppo").policy.to_dict()  # a checkpoint's flat extractor kwargs, written before the field
    del flat["base_precision"]
    assert PolicyConfig.from_saved(flat).base_precision == "float32"


def _encoder_state(policy: PolicyConfig) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_encoder(policy, (128, 128)).state_dict()


def test_one_preset_builds_one_model_from_the_command_line_the_python_api_and_the_plugin():
    """The ppo preset's side-tuning policy, resolved three ways, is one config and one encoder (names, shapes and
    initial values for a fixed seed)."""
    cli = resolve_config(parse_args(build_parser(), []), "ppo")
    api = load_config("ppo")
    plugin = policy_config_of({"sidetune": {"policy_file": None, **policy_fields_node()}})
    assert cli.policy == api.policy == plugin
    assert plugin.side == "fcn5_small" and plugin.side_init == "auto" and plugin.alpha_lr == 0.01
    states = [_encoder_state(p) for p in (cli.policy, api.policy, plugin)]
    assert [k for k in states[0]] == [k for k in states[1]] == [k for k in states[2]]
    for key in states[0]:
        assert states[0][key].shape == states[1][key].shape == states[2][key].shape, key
        assert torch.equal(states[0][key], states[1][key]) and torch.equal(states[0][key], states[2][key]), key


def test_the_plugin_overrides_any_policy_field_and_names_a_bad_one():
    fields = policy_fields_node()["policy"]
    assert set(fields) == {f.name for f in dataclasses.fields(PolicyConfig)} and set(fields.values()) == {UNSET}
    chosen = {**fields, "head_channels": 16, "alpha_lr": None, "method": "features"}
    policy = policy_config_of({"sidetune": {"policy": chosen}})
    assert (policy.head_channels, policy.alpha_lr, policy.method, policy.side) == (16, None, "features", "fcn5_small")
    assert policy_config_of({"sidetune": {"policy_file": "ppo_gpu", "policy": fields}}).base_arch == "taskonomy"
    with pytest.raises(ConfigError, match="policy.method: 'bogus' is unknown"):
        policy_config_of({"sidetune": {"policy": {**fields, "method": "bogus"}}})
    with pytest.raises(ConfigError, match="policy.bogus"):
        policy_config_of({"sidetune": {"policy": {"bogus": 1}}})


def test_the_documented_python_api_snippet_runs():
    """docs/policies.md's preset snippet, run as written (it builds the ppo preset's model on a small env)."""
    text = (ROOT / "docs" / "policies.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "load_config(" in b]
    assert blocks, "docs/policies.md has no python block using load_config"
    namespace: dict = {}
    exec(compile(blocks[0], "docs/policies.md", "exec"), namespace)
    model = namespace["model"]
    assert type(model.policy).__name__ == "SideTunePolicy"
    assert model.policy.features_extractor.config == load_config("ppo", namespace.get("overrides", [])).policy
