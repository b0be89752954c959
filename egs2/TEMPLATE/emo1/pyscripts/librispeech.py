"""A LibriSpeech-layout tree to Kaldi data dirs for ASR pretraining.

Layout: ``<root>/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt`` with lines
``<utt_id> <TEXT>``, audio ``<utt_id>.flac`` beside it (or ``.wav``, or ``.ogg`` / ``.opus`` as in
re-encoded copies such as the shared Mini LibriSpeech). Several subsets can be
merged into one set (``--set asr_train "train-clean-100 train-clean-360"``). All sets are
written, then swapped in together, so a failure keeps the previous sets intact.

Usage (from the recipe dir): ``python -m pyscripts.librispeech --root <LibriSpeech> --out data
--set asr_train "train-clean-100" --set asr_valid dev-clean --set asr_test test-clean``
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from pyscripts.kaldi_dir import DataDirError, write_sets

AUDIO_EXTS = (".flac", ".wav", ".ogg", ".opus")


class CorpusError(DataDirError):
    """The LibriSpeech tree is not where, or not what, the recipe expects."""


def find_audio(chapter_dir: Path, utt: str) -> Path:
    for ext in AUDIO_EXTS:
        path = chapter_dir / f"{utt}{ext}"
        if path.is_file():
            return path
    raise CorpusError(f"{chapter_dir}: no audio for {utt} (expected {utt} with one of {', '.join(AUDIO_EXTS)})")


def read_subset(root: Path, subset: str) -> Dict[str, Dict[str, str]]:
    """wav.scp / text / utt2spk tables of one subset."""
    sdir = root / subset
    if not sdir.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise CorpusError(
            f"LIBRISPEECH={root}: subset folder {subset!r} not found (expected {sdir}; present: {present})"
        )
    tables: Dict[str, Dict[str, str]] = {"wav.scp": {}, "text": {}, "utt2spk": {}}
    for trans in sorted(sdir.glob("*/*/*.trans.txt")):
        for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if len(parts) != 2:
                raise CorpusError(f"{trans}:{lineno}: expected '<utt_id> <TEXT>', got {line!r}")
            utt, text = parts
            tables["wav.scp"][utt] = str(find_audio(trans.parent, utt).resolve())
            tables["text"][utt] = text.upper()
            tables["utt2spk"][utt] = utt.split("-")[0]
    if not tables["text"]:
        raise CorpusError(f"{sdir}: no <spk>/<chapter>/<spk>-<chapter>.trans.txt files with utterances")
    return tables


def merge(parts: Sequence[Dict[str, Dict[str, str]]]) -> Dict[str, Dict[str, str]]:
    merged: Dict[str, Dict[str, str]] = {name: {} for name in parts[0]}
    for part in parts:
        for name, table in part.items():
            merged[name].update(table)
    return merged


def prepare(root: Path, out: Path, sets: List[Tuple[str, str]]) -> None:
    if not root.is_dir():
        raise CorpusError(
            f"LIBRISPEECH={root}: no such directory; set LIBRISPEECH in db.sh (or the LIBRISPEECH "
            f"environment variable) to the folder holding the subsets ({', '.join(s for _, s in sets)})"
        )
    tables = [(name, merge([read_subset(root, s) for s in subsets.split()])) for name, subsets in sets]
    for name, subsets in sets:
        logging.info("%s: from %s", name, subsets)
    write_sets(out, tables)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="the LibriSpeech folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--set",
        nargs=2,
        action="append",
        required=True,
        metavar=("NAME", "SUBSETS"),
        help="data dir name and space-separated subsets merged into it",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        prepare(args.root, args.out, [tuple(s) for s in args.set])
    except DataDirError as err:
        sys.exit(f"ERROR: LibriSpeech prep: {err}")


if __name__ == "__main__":
    main()
