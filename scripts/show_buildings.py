"""Draw buildings with expert paths and first-person frames: python scripts/show_buildings.py
(the program is envs.embedded.show_buildings; see its docstring).
"""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from envs.embedded.show_buildings import cli

if __name__ == "__main__":
    cli()
