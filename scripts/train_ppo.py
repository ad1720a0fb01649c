"""Train a PointNav agent with PPO: python scripts/train_ppo.py --base curvature
(the program is agents.commands.train_ppo; see its docstring).
"""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.train_ppo import cli

if __name__ == "__main__":
    cli()
