"""FSDD and mini AN4 to Kaldi data dirs for CPU-sized ASR pretraining (EmoDB demo).

Both are public, real English speech small enough to pretrain a tiny encoder on a laptop:
FSDD (``<digit>_<speaker>_<n>.wav``, spoken digits) and ESPnet's mini AN4 fixture (sphere
files, ``an4/etc/an4_{train,test}.transcription``). FSDD's official test split (recordings
0-4 of every speaker) is held out: 0-1 validate, 2-4 plus the AN4 test list test; everything
else trains.

Usage (from the recipe dir): ``python -m local.digits_an4 --fsdd <fsdd>/recordings --an4 <mini_an4>/an4 --out data
[--train_set asr_train --valid_set asr_valid --test_set asr_test]``
"""

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Dict, Sequence

from pyscripts.kaldi_dir import DataDirError, write_sets

DIGITS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")
# FSDD's own split holds out recordings 0-4 of every speaker; 0-1 validate, 2-4 test.
FSDD_VALID_MAX, FSDD_TEST_MAX = 1, 4
# "<s> YES </s> (an251-fash-b)" (train list) or "ELEVEN TWENTY (cen8-fcaw-b)" (test list)
AN4_LINE = re.compile(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^)]+)\)$")
Tables = Dict[str, Dict[str, str]]


class CorpusError(DataDirError):
    """An FSDD or AN4 folder is not where, or not what, the recipe expects."""


def empty_tables() -> Tables:
    return {"wav.scp": {}, "text": {}, "utt2spk": {}}


def add(tables: Tables, utt: str, path: Path, text: str, speaker: str) -> None:
    tables["wav.scp"][utt] = str(path.resolve())
    tables["text"][utt] = text
    tables["utt2spk"][utt] = speaker


def read_fsdd(rec_dir: Path, train: Tables, valid: Tables, test: Tables) -> None:
    files = sorted(rec_dir.glob("*.wav")) if rec_dir.is_dir() else []
    if not files:
        raise CorpusError(f"FSDD={rec_dir}: no *.wav files; expected FSDD recordings like 0_george_0.wav")
    for path in files:
        m = FSDD_NAME.match(path.stem)
        if not m:
            raise CorpusError(f"{path}: not an FSDD file name; expected <digit>_<speaker>_<n>.wav")
        digit, speaker, n = m.groups()
        # Speaker first, so that Kaldi's sort keeps each speaker's utterances together.
        utt = f"fsdd_{speaker}_{digit}_{int(n):02d}"
        part = valid if int(n) <= FSDD_VALID_MAX else test if int(n) <= FSDD_TEST_MAX else train
        add(part, utt, path, DIGITS[int(digit)], f"fsdd_{speaker}")


def read_an4(an4: Path, subset: str, tables: Tables) -> None:
    listing = an4 / "etc" / f"an4_{subset}.transcription"
    if not listing.is_file():
        raise CorpusError(f"AN4={an4}: {listing} not found; expected the an4 folder of ESPnet's mini AN4")
    wav_root = an4 / "wav" / ("an4_clstk" if subset == "train" else "an4test_clstk")
    for lineno, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        m = AN4_LINE.match(line.strip())
        if not m:
            raise CorpusError(f"{listing}:{lineno}: expected '<s> TEXT </s> (utt_id)' or 'TEXT (utt_id)', got {line!r}")
        text, utt = m.groups()
        speaker = utt.split("-")[1]
        path = wav_root / speaker / f"{utt}.sph"
        if not path.is_file():
            raise CorpusError(f"{listing}:{lineno}: audio {path} not found")
        add(tables, f"an4_{speaker}_{utt}", path, text.upper(), f"an4_{speaker}")


def prepare(fsdd: Path, an4: Path, out: Path, names: Sequence[str] = ("asr_train", "asr_valid", "asr_test")) -> None:
    """Write the train, valid and test sets ``out/<name>`` together (all or none)."""
    train, valid, test = empty_tables(), empty_tables(), empty_tables()
    read_fsdd(fsdd, train, valid, test)
    read_an4(an4, "train", train)
    read_an4(an4, "test", test)
    write_sets(out, list(zip(names, (train, valid, test))))


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd", type=Path, required=True, help="FSDD recordings folder")
    parser.add_argument("--an4", type=Path, required=True, help="mini AN4 'an4' folder (etc/, wav/)")
    parser.add_argument("--out", type=Path, required=True, help="writes the three sets under <out>")
    parser.add_argument("--train_set", default="asr_train")
    parser.add_argument("--valid_set", default="asr_valid")
    parser.add_argument("--test_set", default="asr_test")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        prepare(args.fsdd, args.an4, args.out, (args.train_set, args.valid_set, args.test_set))
    except DataDirError as err:
        sys.exit(f"ERROR: FSDD + AN4 prep: {err}")


if __name__ == "__main__":
    main()
