"""Import the bench scripts' modules: ``bench/`` is a folder of scripts, not a package."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
# The scripts import each other as siblings (``import benchlib``), as when run directly.
sys.path.insert(0, str(BENCH))
