"""Report an experiment folder from its runs' stored evaluations: tables, paired comparisons, α, Fig. 3c (the
program is agents.commands.report; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.report import cli

if __name__ == "__main__":
    cli()
