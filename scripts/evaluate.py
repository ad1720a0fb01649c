"""Evaluate runs on the held-out episodes and print one table: python scripts/evaluate.py RUN_DIR ... --reference
(the program is agents.commands.evaluate; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.evaluate import cli

if __name__ == "__main__":
    cli()
