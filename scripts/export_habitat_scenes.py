"""Export the embedded buildings as Habitat scenes with their episode sets: python scripts/export_habitat_scenes.py
OUT (the program is agents.commands.export_habitat_scenes; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.export_habitat_scenes import cli

if __name__ == "__main__":
    cli()
