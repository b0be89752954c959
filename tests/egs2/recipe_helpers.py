"""Running a recipe's stage scripts from its own dir, as the stages do."""

import os
import subprocess
from pathlib import Path
from typing import Dict, Sequence

EGS2 = Path(__file__).resolve().parents[2] / "egs2"


def run_asr_data(recipe: str, out: Path, opts: Sequence[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    """``local/asr_data.sh --out <out> <opts>`` of ``egs2/<recipe>/emo1``, output captured."""
    return subprocess.run(
        ["local/asr_data.sh", "--out", str(out), *opts],
        cwd=EGS2 / recipe / "emo1",
        env=dict(os.environ, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
