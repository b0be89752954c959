"""Kill a training run part-way (SIGKILL, no chance to clean up), for the resume tests."""

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import torch


def run_and_kill(
    cmd: List[str], log: Path, watch: Path, marker: str, cwd=None, env=None, timeout: float = 600, settle: float = 1.0
) -> None:
    """Start ``cmd`` in its own process group; ``settle`` s after ``watch`` shows ``marker``, SIGKILL
    the group. With ESPnet's ``--log_interval 1``, ``2epoch:train:1-1batch`` marks the end of the
    first step of epoch 2: a kill right then lands in the middle of that epoch.

    Fails if the command ends on its own before the marker appears (nothing was interrupted).
    """
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    try:
        while not (watch.is_file() and marker in watch.read_text(errors="replace")):
            assert proc.poll() is None, f"finished (rc {proc.returncode}) before {marker!r}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {marker!r} in {watch} after {timeout} s"
            time.sleep(0.2)
        time.sleep(settle)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def epoch_stats(exp: Path) -> Dict[int, dict]:
    """Per-epoch statistics ESPnet's reporter keeps in checkpoint.pth."""
    return torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["stats"]
