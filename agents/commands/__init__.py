"""The command-line programs. Each module's ``cli()`` is a console entry point (``[project.scripts]`` in
pyproject.toml, e.g. ``sidetune-train-ppo``); ``python scripts/<name>.py`` runs the same ``cli()`` from a checkout."""
