"""Hydra search-path plugin: makes ``--config-name=sidetune_pointnav`` visible to stock
``python -m habitat_baselines.run`` and registers the toolkit's policy and trainer in habitat-baselines."""

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SideTuneHabitatBaselinesPlugin(SearchPathPlugin):
    """Appends ``pkg://sidetune_habitat_baselines/config``; registration happens on first use (a Hydra app that
    builds its search path), so other Hydra programs in the venv do not import torch for nothing."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        import importlib.util

        if importlib.util.find_spec("habitat_baselines") is not None:
            import sidetune_habitat_baselines  # noqa: F401  (registers policy and trainer)
        search_path.append(provider="sidetune-nav", path="pkg://sidetune_habitat_baselines/config")
