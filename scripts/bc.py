"""Behaviour cloning of the shortest-path expert: python scripts/bc.py --trajectories 4900 (the program is
agents.commands.bc; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.bc import cli

if __name__ == "__main__":
    cli()
