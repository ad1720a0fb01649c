"""Put this checkout's root first on sys.path, so ``python scripts/<name>.py`` runs the checkout's code even
where another copy of the package is installed (the one place the scripts touch sys.path)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path[:1]:
    sys.path.insert(0, ROOT)
