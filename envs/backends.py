"""The simulator backends as registered specs: one ``BackendSpec`` entry per backend, naming its build functions.

``envs/factory.py`` asks this table instead of testing backend names, and the config check (envs/config.py) and
the CLI take their choices from it, so a new simulator is one ``register_backend`` call here. The functions are
named as ``"module:attribute"`` entry points (as gymnasium registers envs) and imported by the factory only when
used: this table sits below envs.config, which every simulator imports, and habitat-sim is only needed when
``env.backend: habitat``.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.registry import Registry


@dataclass(frozen=True)
class BackendSpec:
    """One simulator backend: the entry points of its functions (``"module:attribute"``) and its splits.

    ``build(config, num_envs) -> Backend`` and ``load_episodes(config, split) -> list[Episode]`` are required.
    ``building_names(split, config) -> list[str]`` (None: buildings are known only from episode files),
    ``building_of(episode) -> str`` (None: an episode's building is its scene id). The offline tools, None when
    the backend needs its live simulator for everything: ``generate_episodes(names, per_building, seed, config)``,
    ``nav_grid(name, config)`` (an object with ``navigable`` and ``cell_size``) and
    ``pose_renderer(names, config, resolution)`` (re-rendering stored poses). ``check_data(config)`` (None: nothing
    to check) prepares and checks the user's data when the run config is resolved, before anything is written.
    ``simulator_per_scene``: envs in different scenes need different simulators, each costly to create, so an
    evaluation batches no more envs than one building has episodes (they then span one or two buildings)."""

    name: str
    build: str
    load_episodes: str
    splits: tuple[str, ...] | None = None  # fixed split names; None: the dataset's folders (checked when loaded)
    building_names: str | None = None
    building_of: str | None = None
    generate_episodes: str | None = None
    nav_grid: str | None = None
    pose_renderer: str | None = None
    check_data: str | None = None
    simulator_per_scene: bool = False

    @property
    def renders_offline(self) -> bool:
        """Whether it can list, generate and render in any building without a live simulator."""
        return None not in (self.generate_episodes, self.nav_grid, self.pose_renderer)


BACKENDS: Registry[BackendSpec] = Registry("backend")
register_backend = BACKENDS.register
unregister_backend = BACKENDS.unregister
backend_names = BACKENDS.names
backend_spec = BACKENDS.spec


FIT_SPLIT = "train_fit"  # the training buildings minus the validation ones: train here when choosing designs
VAL_SPLIT = "train_val"  # the last env.num_val_buildings training buildings: design choices, never verdicts
EMBEDDED_SPLITS = ("train", "heldout", FIT_SPLIT, VAL_SPLIT)  # Habitat splits are folders (train, val, ...)
EVALUATION_SPLITS = ("heldout", VAL_SPLIT)  # generated with env.episodes.per_building_heldout per building

register_backend(
    BackendSpec(
        "embedded",  # procedural buildings, rendered and navigated in-process (envs/embedded/)
        build="envs.embedded.backend:EmbeddedBackend",
        load_episodes="envs.embedded.episode_gen:load_or_generate_episodes",
        splits=EMBEDDED_SPLITS,
        building_names="envs.embedded.catalogue:building_names",
        building_of="envs.embedded.episode_gen:building_of",
        generate_episodes="envs.embedded.episode_gen:generate_episodes",
        nav_grid="envs.embedded.catalogue:get_nav_grid",
        pose_renderer="envs.embedded.renderer:make_renderer",
    )
)
register_backend(
    BackendSpec(
        "habitat",  # habitat-sim scenes and PointNav datasets from the user's data folder (envs/habitat/)
        build="envs.habitat.backend:HabitatBackend",
        load_episodes="envs.habitat.episodes:load_habitat_episodes",
        check_data="envs.habitat.episodes:check_habitat_data",
        simulator_per_scene=True,  # a habitat-sim simulator: 13-35 s to create on a CPU, 0.1 s to reconfigure
    )
)
