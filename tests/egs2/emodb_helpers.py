"""Tiny EmoDB data dirs for the demo's baseline and probe tests."""

from pathlib import Path
from typing import Sequence

from pyscripts.kaldi_dir import write_data_dir


def write_part(wav_dir: Path, out: Path, speakers: Sequence[str], per_class: int) -> None:
    """A data dir of the first ``per_class`` anger and sadness files of each speaker."""
    tables = {"wav.scp": {}, "emotion": {}, "utt2spk": {}}
    for letter, label in (("W", "ang"), ("T", "sad")):
        for spk in speakers:
            for path in sorted(wav_dir.glob(f"{spk}???{letter}?.wav"))[:per_class]:
                tables["wav.scp"][path.stem] = str(path)
                tables["emotion"][path.stem] = label
                tables["utt2spk"][path.stem] = spk
    write_data_dir(out, tables)
