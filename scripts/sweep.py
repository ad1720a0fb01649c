"""Run a sweep file's grid of BC, PPO or pretraining runs as Ray tasks: python scripts/sweep.py SWEEP.yaml (the
program is agents.commands.sweep; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.sweep import cli

if __name__ == "__main__":
    cli()
