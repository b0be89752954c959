"""speechocean762 (OpenSLR 101, CC BY 4.0) to Kaldi data dirs for ASR pretraining.

Real read English by 250 speakers with transcripts: lexically rich enough for an encoder to
learn phonetic content, small enough for a CPU. The corpus ships a speaker-disjoint
``train/`` and ``test/``; ``train/`` trains, and the ``test/`` speakers are dealt into
validation (every ``valid_every``-th speaker by id) and test (the rest), so both WER and
checkpoint selection are measured on speakers the model never trained on.

Usage (from a recipe dir): ``python -m pyscripts.speechocean762 --root <speechocean762> --out data
[--train_set asr_train --valid_set asr_valid --test_set asr_test --valid_every 5]``
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, Sequence, Tuple

from pyscripts.kaldi_dir import DataDirError, read_table, write_sets

Tables = Dict[str, Dict[str, str]]


def read_part(root: Path, part: str) -> Tables:
    """One shipped part (``train`` or ``test``) with absolute audio paths, checked for agreement."""
    folder = root / part
    if not folder.is_dir():
        raise DataDirError(f"SPEECHOCEAN762={root}: {folder} not found; expected the corpus' train/ and test/")
    wav = read_table(folder / "wav.scp")
    text = read_table(folder / "text")
    utt2spk = read_table(folder / "utt2spk")
    for name, table in (("text", text), ("utt2spk", utt2spk)):
        missing = sorted(set(wav) ^ set(table))
        if missing:
            raise DataDirError(f"{folder / name}: utterances differ from wav.scp, e.g. {missing[:3]}")
    tables: Tables = {"wav.scp": {}, "text": {}, "utt2spk": {}}
    for utt, rel in wav.items():
        path = root / rel
        if not path.is_file():
            raise DataDirError(f"{folder / 'wav.scp'}: audio {path} of {utt} not found")
        # Speaker first in the id, so that Kaldi's sort keeps each speaker together.
        key = f"so762_{utt2spk[utt]}_{utt}"
        tables["wav.scp"][key] = str(path.resolve())
        tables["text"][key] = text[utt].upper()
        tables["utt2spk"][key] = f"so762_{utt2spk[utt]}"
    return tables


def split_speakers(tables: Tables, valid_every: int) -> Tuple[Tables, Tables]:
    """Every ``valid_every``-th speaker (sorted ids) to validation, the others to test."""
    speakers = sorted(set(tables["utt2spk"].values()))
    valid_spk = set(speakers[::valid_every])
    parts: Tuple[Tables, Tables] = ({n: {} for n in tables}, {n: {} for n in tables})
    for utt, spk in tables["utt2spk"].items():
        target = parts[0] if spk in valid_spk else parts[1]
        for name in tables:
            target[name][utt] = tables[name][utt]
    return parts


def prepare(
    root: Path, out: Path, names: Sequence[str] = ("asr_train", "asr_valid", "asr_test"), valid_every: int = 5
) -> None:
    """Write the train, valid and test sets ``out/<name>`` together (all or none)."""
    if valid_every < 2:
        raise DataDirError(f"--valid_every {valid_every}: must be >= 2 so that test speakers remain")
    train = read_part(root, "train")
    valid, test = split_speakers(read_part(root, "test"), valid_every)
    write_sets(out, list(zip(names, (train, valid, test))))


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="speechocean762 folder (train/, test/, WAVE/)")
    parser.add_argument("--out", type=Path, required=True, help="writes the three sets under <out>")
    parser.add_argument("--train_set", default="asr_train")
    parser.add_argument("--valid_set", default="asr_valid")
    parser.add_argument("--test_set", default="asr_test")
    parser.add_argument(
        "--valid_every", type=int, default=5, help="every N-th test/ speaker validates, the others test"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        prepare(args.root, args.out, (args.train_set, args.valid_set, args.test_set), args.valid_every)
    except DataDirError as err:
        sys.exit(f"ERROR: speechocean762 prep: {err}")


if __name__ == "__main__":
    main()
