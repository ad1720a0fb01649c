"""Make a shipped trained agent from a run's checkpoint: python scripts/export_agent.py CHECKPOINT --name NAME
(the program is agents.commands.export_agent; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.export_agent import cli

if __name__ == "__main__":
    cli()
