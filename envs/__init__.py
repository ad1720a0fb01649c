"""PointNav environments: one task (reward, metrics, visited map, goal) over swappable simulator backends.

``SidetuneNav/PointNav-v0`` is registered with gymnasium on import: ``gymnasium.make('SidetuneNav/PointNav-v0',
config={...})`` builds a single ``PointNavEnv`` (or pass ``task=`` a prebuilt one-env ``PointNavTask``).
Heavy modules (backends, SB3 adapter) are imported lazily by ``envs.factory``.
"""

import gymnasium

ENV_ID = "SidetuneNav/PointNav-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="envs.gym_env:PointNavEnv", nondeterministic=False)

__all__ = ["ENV_ID"]
