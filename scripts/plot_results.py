"""Plot results of run folders (Fig. 3c / 3d style): python scripts/plot_results.py runs/
(the program is agents.commands.plot_results; see its docstring).
"""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.plot_results import cli

if __name__ == "__main__":
    cli()
