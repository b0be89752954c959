"""EmoDB to a Kaldi data dir, its class list and five speaker-pair folds (EmoDB demo).

File ``03a01Fa.wav`` = speaker 03, text a01, emotion F, version a. By default the four classes
that mirror IEMOCAP's protocol are kept (N neu, F hap, W ang, T sad); ``--all_classes`` keeps
all seven (adds L bor, E dis, A fea). Fold ``k`` tests one male and one female speaker, as an
IEMOCAP session does; validation comes from the eight training speakers only.

Usage (from the recipe dir): ``python -m local.emodb --emodb <emodb>/wav --out data [--all_classes]``
"""

import argparse
import logging
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from pyscripts.folds import write_corpus_and_folds
from pyscripts.kaldi_dir import DataDirError

MALES = ("03", "10", "11", "12", "15")
FEMALES = ("08", "09", "13", "14", "16")
# Fold k tests the speaker pair (MALES[k-1], FEMALES[k-1]).
GROUPS = tuple(f"{m}_{f}" for m, f in zip(MALES, FEMALES))
FOUR_CLASSES = {"N": "neu", "F": "hap", "W": "ang", "T": "sad"}
SEVEN_CLASSES = {**FOUR_CLASSES, "L": "bor", "E": "dis", "A": "fea"}
FILE_NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z])$")


class CorpusError(DataDirError):
    """The EmoDB folder is not where, or not what, the recipe expects."""


def label_list(all_classes: bool) -> List[str]:
    """The class order used for training, scores and confusion matrices."""
    return list((SEVEN_CLASSES if all_classes else FOUR_CLASSES).values())


def parse_name(path: Path) -> Tuple[str, str]:
    """(speaker, emotion letter) of an EmoDB file name; raises CorpusError on any other name."""
    m = FILE_NAME.match(path.stem)
    if not m or m.group(1) not in MALES + FEMALES or m.group(3) not in SEVEN_CLASSES:
        raise CorpusError(
            f"{path}: not an EmoDB file name; expected <speaker><text><emotion><version>.wav like "
            f"03a01Fa.wav with speaker in {MALES + FEMALES} and emotion in {''.join(SEVEN_CLASSES)}"
        )
    return m.group(1), m.group(3)


def collect(wav_dir: Path, all_classes: bool) -> Tuple[Dict[str, Dict[str, str]], Dict[str, str]]:
    """(tables wav.scp / emotion / utt2spk, utt -> fold group) of the kept classes."""
    if not wav_dir.is_dir():
        raise CorpusError(f"EMODB={wav_dir}: no such directory; set EMODB in db.sh to the folder of *.wav files")
    files = sorted(wav_dir.glob("*.wav"))
    if not files:
        raise CorpusError(f"{wav_dir}: no *.wav files (expected EmoDB files like 03a01Fa.wav)")
    classes = SEVEN_CLASSES if all_classes else FOUR_CLASSES
    tables: Dict[str, Dict[str, str]] = {"wav.scp": {}, "emotion": {}, "utt2spk": {}}
    utt2group = {}
    for path in files:
        speaker, letter = parse_name(path)
        if letter not in classes:
            continue
        utt = path.stem
        tables["wav.scp"][utt] = str(path.resolve())
        tables["emotion"][utt] = classes[letter]
        tables["utt2spk"][utt] = speaker
        utt2group[utt] = next(g for g in GROUPS if speaker in g.split("_"))
    return tables, utt2group


def report(emotion: Dict[str, str], utt2group: Dict[str, str], labels: Sequence[str]) -> None:
    rows = [f"{'fold':6s}{'speakers':10s}" + "".join(f"{c:>6s}" for c in labels) + f"{'total':>7s}"]
    for k, group in enumerate(GROUPS, 1):
        counts = Counter(emotion[u] for u in emotion if utt2group[u] == group)
        rows.append(f"{k:<6d}{group:10s}" + "".join(f"{counts[c]:6d}" for c in labels) + f"{sum(counts.values()):7d}")
    logging.info("EmoDB: %d utterances, test speakers per fold:\n%s", len(emotion), "\n".join(rows))


def prepare(wav_dir: Path, out: Path, all_classes: bool, valid_ratio: float, seed: int) -> List[Path]:
    """Write ``out/emodb``, ``out/fold1..5`` and ``out/emodb/labels`` (class order)."""
    tables, utt2group = collect(wav_dir, all_classes)
    labels = label_list(all_classes)
    report(tables["emotion"], utt2group, labels)
    return write_corpus_and_folds(out, "emodb", tables, utt2group, GROUPS, valid_ratio, seed, labels)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb", type=Path, required=True, help="folder of EmoDB *.wav files")
    parser.add_argument("--out", type=Path, required=True, help="writes <out>/emodb and <out>/fold1..5")
    parser.add_argument("--all_classes", action="store_true", help="keep all seven emotions, not four")
    parser.add_argument("--valid_ratio", type=float, default=0.15, help="share of training utterances for valid")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation draw")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        prepare(args.emodb, args.out, args.all_classes, args.valid_ratio, args.seed)
    except DataDirError as err:
        sys.exit(f"ERROR: EmoDB prep: {err}")


if __name__ == "__main__":
    main()
