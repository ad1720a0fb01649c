"""Coverage and width of the paired seed x episode bootstrap (agents/evaluation/stats.py) on synthetic
binary success (the program is agents.commands.bootstrap_calibration; see its docstring).
"""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.bootstrap_calibration import cli

if __name__ == "__main__":
    cli()
