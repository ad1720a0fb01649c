"""Make or extend the expert trajectory pool for BC: python scripts/make_trajectories.py --trajectories 4900
(the program is agents.commands.make_trajectories; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.make_trajectories import cli

if __name__ == "__main__":
    cli()
