"""Pretrain a base encoder: python scripts/pretrain_base.py --task curvature --arch compact (the program is
agents.commands.pretrain_base; see its docstring)."""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.pretrain_base import cli

if __name__ == "__main__":
    cli()
