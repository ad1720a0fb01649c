"""Write the fixed train and held-out episode sets in Habitat PointNav v1 format:
python scripts/make_episodes.py OUT_DIR (the program is agents.commands.make_episodes; see its docstring).
"""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.make_episodes import cli

if __name__ == "__main__":
    cli()
