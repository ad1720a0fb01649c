"""Hydra search-path plugin: makes ``--config-name=sidetune_pointnav`` visible to stock
``python -m habitat_baselines.run`` and registers the toolkit's policy and trainer in habitat-baselines."""

import sys

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SideTuneHabitatBaselinesPlugin(SearchPathPlugin):
    """Appends ``pkg://sidetune_habitat_baselines/config`` and, in a program that has imported habitat-baselines
    (``habitat_baselines.run`` has, before Hydra builds its search path), registers the policy and the trainer;
    other Hydra programs (habitat-lab's ``get_config``) import nothing more."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if "habitat_baselines" in sys.modules:
            import sidetune_habitat_baselines

            sidetune_habitat_baselines.register()  # the policy, the trainer and their Hydra keys
        search_path.append(provider="sidetune-nav", path="pkg://sidetune_habitat_baselines/config")
