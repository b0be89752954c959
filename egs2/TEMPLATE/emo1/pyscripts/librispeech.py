"""A LibriSpeech-layout tree to Kaldi data dirs for ASR pretraining.

Layout: ``<root>/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt`` with lines
``<utt_id> <TEXT>``, audio ``<utt_id>.flac`` beside it (or ``.wav``, or ``.ogg`` / ``.opus`` as in
re-encoded copies such as the shared Mini LibriSpeech). Several subsets can be
merged into one set (``--set asr_train "train-clean-100 train-clean-360"``). Where a copy has no
dev / test subsets (Mini LibriSpeech's train-clean-5 alone), ``--hold_out asr_valid "1737 7312"``
takes those speakers out of the first set into a set of their own; a held-out group must have as
many female as male speakers (SPEAKERS.TXT), so no evaluation set leans on one gender. All sets
are written, then swapped in together, so a failure keeps the previous sets intact.

Usage (from the recipe dir): ``python -m pyscripts.librispeech --root <LibriSpeech> --out data
--set asr_train "train-clean-100" --set asr_valid dev-clean --set asr_test test-clean``, or
``... --set asr_train train-clean-5 --hold_out asr_valid "1737 7312" --hold_out asr_test "32 3664"``
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Set, Tuple

from pyscripts.kaldi_dir import DataDirError, write_sets

AUDIO_EXTS = (".flac", ".wav", ".ogg", ".opus")
Tables = Dict[str, Dict[str, str]]


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


def speaker_genders(root: Path) -> Dict[str, str]:
    """``<spk> | <F/M> | ...`` lines of the corpus' SPEAKERS.TXT (``;`` starts a comment)."""
    path = root / "SPEAKERS.TXT"
    if not path.is_file():
        raise CorpusError(f"LIBRISPEECH={root}: {path.name} not found; held-out speakers' genders come from it")
    genders = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split("|")]
        if not line.startswith(";") and len(fields) >= 2:
            genders[fields[0]] = fields[1]
    return genders


def check_held_out(genders: Dict[str, str], present: Set[str], name: str, speakers: Sequence[str]) -> None:
    """Speakers of the set they leave, as many female as male."""
    missing = [s for s in speakers if s not in present]
    if missing:
        raise CorpusError(f"held-out {name} {' '.join(speakers)}: speaker(s) {missing} not in the subsets")
    found = [genders.get(s, "?") for s in speakers]
    if not speakers or found.count("F") != found.count("M") or found.count("F") * 2 != len(found):
        raise CorpusError(
            f"held-out {name} {' '.join(speakers)}: expected as many female as male speakers "
            f"(SPEAKERS.TXT), got {sorted(found)}"
        )


def hold_out(root: Path, tables: Tables, groups: Sequence[Tuple[str, Sequence[str]]]) -> List[Tables]:
    """One table per (name, speakers) group, taken out of ``tables``, plus what is left, last."""
    genders = speaker_genders(root)
    present = set(tables["utt2spk"].values())
    for name, speakers in groups:
        check_held_out(genders, present, name, speakers)
    parts: List[Tables] = [{n: {} for n in tables} for _ in range(len(groups) + 1)]
    for utt, spk in tables["utt2spk"].items():
        idx = next((i for i, (_, g) in enumerate(groups) if spk in g), len(groups))
        for name in tables:
            parts[idx][name][utt] = tables[name][utt]
    return parts


def prepare(
    root: Path, out: Path, sets: List[Tuple[str, str]], held_out: Sequence[Tuple[str, Sequence[str]]] = ()
) -> None:
    """``sets``: (name, subsets); ``held_out``: (name, speakers) taken out of the first set."""
    if not root.is_dir():
        raise CorpusError(
            f"LIBRISPEECH={root}: no such directory; set LIBRISPEECH in db.sh (or the LIBRISPEECH "
            f"environment variable) to the folder holding the subsets ({', '.join(s for _, s in sets)})"
        )
    tables = [(name, merge([read_subset(root, s) for s in subsets.split()])) for name, subsets in sets]
    if held_out:
        *groups, rest = hold_out(root, tables[0][1], held_out)
        tables[0] = (tables[0][0], rest)
        tables += [(name, group) for (name, _), group in zip(held_out, groups)]
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
    parser.add_argument(
        "--hold_out",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "SPEAKERS"),
        help="data dir name and space-separated speaker ids taken out of the first --set",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        prepare(args.root, args.out, [tuple(s) for s in args.set], [(n, spk.split()) for n, spk in args.hold_out])
    except DataDirError as err:
        sys.exit(f"ERROR: LibriSpeech prep: {err}")


if __name__ == "__main__":
    main()
