"""Whether habitat-sim can be imported, and the one error raised when it cannot.

habitat-sim is distributed through conda only (channel ``aihabitat``), so the toolkit must import and run
without it; only ``--backend habitat`` needs it. Everything that touches ``habitat_sim`` goes through
``require_habitat_sim`` so the failure is always the same clear message.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from common.errors import UserError

INSTALL_HINT = (
    "create the conda environment that provides it: `conda env create -f environment.yml` then "
    "`conda activate sidetune-nav-habitat` (see docs/habitat.md); habitat-sim is not on PyPI"
)


class BackendUnavailableError(UserError, RuntimeError):
    """A backend whose simulator package is not installed in this Python environment."""


def habitat_sim_available() -> bool:
    """True when ``habitat_sim`` can be found (without importing it, which initialises a GL stack)."""
    if "habitat_sim" in sys.modules:
        return sys.modules["habitat_sim"] is not None
    return importlib.util.find_spec("habitat_sim") is not None


def require_habitat_sim() -> ModuleType:
    """Import and return ``habitat_sim``, or raise BackendUnavailableError saying how to install it.

    habitat-sim and Magnum print their GL set-up on every simulator unless told to be quiet; the toolkit's
    scripts print tables on stdout, so the logs are quietened unless the caller set these variables."""
    os.environ.setdefault("HABITAT_SIM_LOG", "quiet")
    os.environ.setdefault("MAGNUM_LOG", "quiet")
    try:
        return importlib.import_module("habitat_sim")
    except ImportError as err:
        raise BackendUnavailableError(
            f"env.backend='habitat' needs habitat-sim, which cannot be imported here ({err}); {INSTALL_HINT}"
        ) from err
