"""The plugin's policy config, resolved as the command line resolves it, without importing habitat: the ``ppo``
preset's ``policy:`` section (or that of ``sidetune.policy_file``), then the keys set under ``sidetune.policy``.
Every PolicyConfig field is a key there (registered from the schema), so any of them is a Hydra override."""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from policies.methods import PolicyConfig

PRESET = "ppo"  # the toolkit's CPU preset: the plugin's default policy is the one train_ppo.py builds
UNSET = "<preset>"  # the value of a sidetune.policy key the user did not set: the preset's value is used


def policy_fields_node() -> dict[str, Any]:
    """``sidetune.policy`` with every PolicyConfig field, each unset (so Hydra accepts an override of any)."""
    return {"policy": {f.name: UNSET for f in dataclasses.fields(PolicyConfig) if f.init}}


def register_policy_fields() -> None:
    """Store ``policy_fields_node`` in Hydra's ConfigStore as ``sidetune/policy_fields`` (the plugin's config
    lists it in its defaults)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="sidetune", name="policy_fields", node=policy_fields_node(), package="sidetune")


def policy_config_of(config: DictConfig | dict[str, Any]) -> PolicyConfig:
    """The PolicyConfig of a habitat-baselines config (its ``sidetune:`` section); a bad key or value is a
    ConfigError naming ``policy.<key>``, as on the command line."""
    from agents.run.config_loader import apply_strict, load_layers, to_container

    section = config.get("sidetune") or {}
    policy_file = section.get("policy_file") or None
    layers = load_layers(PRESET, str(policy_file) if policy_file else None)
    chosen = section.get("policy") or {}
    if isinstance(chosen, DictConfig):
        chosen = OmegaConf.to_container(chosen, resolve=True, throw_on_missing=False)
    values = {key: value for key, value in dict(chosen).items() if value != UNSET}
    if values:
        layers = apply_strict(layers, OmegaConf.create({"policy": values}), "sidetune.policy overrides")
    return PolicyConfig.from_dict(to_container(layers)["policy"])


RGB_WIDTH_KEY = "habitat.simulator.agents.main_agent.sim_sensors.rgb_sensor.width"


def check_plugin_config(config: DictConfig) -> PolicyConfig:
    """The policy config, checked as the command line checks a run's (weights files exist and load, a pretrained
    base fits the RGB sensor's resolution), before habitat-baselines starts a simulator; a ConfigError otherwise,
    naming the habitat key where the problem is the sensor."""
    from agents.run.run_config import check_policy
    from common.config import ConfigError
    from envs.config import EnvConfig

    policy = policy_config_of(config)
    width = OmegaConf.select(config, RGB_WIDTH_KEY) if isinstance(config, DictConfig) else None
    try:
        check_policy(policy, EnvConfig(resolution=int(width) if width is not None else EnvConfig().resolution))
    except ConfigError as err:
        if not str(err).startswith("env.resolution"):
            raise
        raise ConfigError(str(err).replace("env.resolution", RGB_WIDTH_KEY)) from None  # the sensor is the image
    return policy
