"""A minimal IEMOCAP-layout tree with synthetic audio, for the IEMOCAP prep unit tests."""

from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import soundfile

# (label, gender) of the utterances every session gets; fru and xxx must be dropped, exc merged.
UTTS = (("neu", "F"), ("exc", "F"), ("ang", "M"), ("sad", "M"), ("hap", "M"), ("fru", "F"), ("xxx", "M"))


def tone(seconds: float = 0.5, fs: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def write_session(root: Path, k: int, labels: Tuple[Tuple[str, str], ...] = UTTS) -> Dict[str, str]:
    """Session k with one dialog; returns utt -> raw label."""
    dialog = f"Ses0{k}M_script01_1"
    sdir = root / f"Session{k}"
    wav_dir = sdir / "sentences" / "wav" / dialog
    for sub in (wav_dir, sdir / "dialog" / "EmoEvaluation", sdir / "dialog" / "transcriptions"):
        sub.mkdir(parents=True, exist_ok=True)
    evals, trans, raw = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""], [], {}
    for n, (label, gender) in enumerate(labels):
        utt = f"{dialog}_{gender}{n:03d}"
        soundfile.write(wav_dir / f"{utt}.wav", tone(), 16000)
        evals += [f"[{n}.0000 - {n}.5000]\t{utt}\t{label}\t[2.5000, 2.5000, 2.5000]", "C-E1:\tOther;\t()", ""]
        trans.append(f"{utt} [{n:08.4f}-{n:08.4f}]: line {n}.")
        raw[utt] = label
    (sdir / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evals) + "\n")
    (sdir / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(trans) + "\n")
    return raw


@pytest.fixture
def session_writer():
    """``write_session(root, k, labels)``: (re)write Session k of a tree."""
    return write_session


@pytest.fixture
def tiny_iemocap(tmp_path) -> Tuple[Path, Dict[str, str]]:
    root = tmp_path / "IEMOCAP_full_release"
    raw = {}
    for k in range(1, 6):
        raw.update(write_session(root, k))
    return root, raw
