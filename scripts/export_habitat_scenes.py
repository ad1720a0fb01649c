"""Export the embedded buildings as Habitat scenes with their episode sets: python scripts/export_habitat_scenes.py OUT (the program is envs.habitat.export_command; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)
from envs.habitat.export_command import cli

if __name__ == "__main__":
    cli()
