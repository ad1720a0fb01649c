"""Linear probes of frozen bases on held-out frames, and denoising vs the identity (docs/pretraining.md)
(the program is agents.commands.probe_base; see its docstring).
"""

import _checkout  # noqa: F401  (the checkout's packages first, when run from a checkout)

from agents.commands.probe_base import cli

if __name__ == "__main__":
    cli()
