"""Leave-one-group-out folds (IEMOCAP sessions, EmoDB speaker pairs) and their integrity check.

Fold ``k`` tests group ``k``; its validation set is drawn from the *training* groups only,
so no checkpoint is ever selected on test speakers. :func:`check_fold` re-verifies that on
disk, because a leaked speaker silently inflates every reported number.

Usage (from a recipe dir): ``python -m pyscripts.folds check data/fold1 data/fold2 ...``
       ``python -m pyscripts.folds derive --corpus dump/raw/iemocap
       --fold data/fold1 dump/raw/fold1 [--fold SRC DST ...]`` (the folds of a formatted corpus)
"""

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from pyscripts.kaldi_dir import (
    DataDirError,
    PathLike,
    read_table,
    staged_dir,
    staged_dirs,
    subset_data_dir,
    write_data_dir,
    write_lines,
)

PARTS = ("train", "valid", "test")


class FoldError(DataDirError):
    """A fold that is empty or mixes speakers/utterances across train, valid and test."""


def split_valid(emotion: Mapping[str, str], keys: Sequence[str], ratio: float, seed: int) -> List[str]:
    """Pick ``ratio`` of ``keys`` per emotion label (at least one where a label has two or more)."""
    by_label: Dict[str, List[str]] = defaultdict(list)
    for key in sorted(keys):
        by_label[emotion[key]].append(key)
    rng = random.Random(seed)
    valid: List[str] = []
    for label in sorted(by_label):
        members = by_label[label]
        rng.shuffle(members)
        count = round(ratio * len(members))
        if count == 0 and len(members) >= 2:
            count = 1
        valid.extend(members[:count])
    return sorted(valid)


def build_folds(
    corpus_dir: PathLike,
    utt2group: Mapping[str, str],
    groups: Sequence[str],
    out_root: PathLike,
    valid_ratio: float = 0.1,
    seed: int = 0,
) -> List[Path]:
    """Write ``out_root/fold<k>/{train,valid,test}`` (k = 1..len(groups)) and check each fold."""
    corpus_dir, out_root = Path(corpus_dir), Path(out_root)
    emotion = read_table(corpus_dir / "emotion")
    fold_dirs = []
    for k, group in enumerate(groups, 1):
        test = [u for u in emotion if utt2group[u] == group]
        rest = [u for u in emotion if utt2group[u] != group]
        valid = split_valid(emotion, rest, valid_ratio, seed + k)
        chosen = set(valid)
        train = [u for u in rest if u not in chosen]
        fold = out_root / f"fold{k}"
        for part, keys in zip(PARTS, (train, valid, test)):
            if not keys:
                raise FoldError(
                    f"{fold}/{part}: empty (test group {group!r}); expected utterances of the kept "
                    f"classes in every group {list(groups)} -- check the corpus under {corpus_dir}"
                )
            subset_data_dir(corpus_dir, fold / part, keys)
        check_fold(fold)
        fold_dirs.append(fold)
    return fold_dirs


def write_corpus_and_folds(
    out: PathLike,
    name: str,
    tables: Mapping[str, Mapping[str, str]],
    utt2group: Mapping[str, str],
    groups: Sequence[str],
    valid_ratio: float = 0.1,
    seed: int = 0,
    labels: Optional[Sequence[str]] = None,
) -> List[Path]:
    """Write ``out/<name>`` and ``out/fold<k>`` in a staging dir, check them, then swap them in.

    ``labels`` (the class order for training and scoring) goes to ``out/<name>/labels``.
    A failure anywhere leaves the previous ``out/<name>`` and folds exactly as they were.
    """
    out = Path(out)
    fold_names = [f"fold{k}" for k in range(1, len(groups) + 1)]
    with staged_dirs(out, [name] + fold_names) as staging:
        write_data_dir(staging / name, tables)
        if labels is not None:
            write_lines(staging / name / "labels", labels)
        build_folds(staging / name, utt2group, groups, staging, valid_ratio, seed)
    return [out / f for f in fold_names]


def check_fold(fold: PathLike) -> Dict[str, int]:
    """Raise :class:`FoldError` unless train/valid/test are non-empty and disjoint in utterances
    and test speakers appear in neither train nor valid; returns the utterance counts."""
    fold = Path(fold)
    utt2spk = {part: read_table(fold / part / "utt2spk") for part in PARTS}
    for part in PARTS:
        if not utt2spk[part]:
            raise FoldError(f"{fold}/{part}/utt2spk: empty; every fold needs train, valid and test utterances")
        missing = set(utt2spk[part]) - set(read_table(fold / part / "emotion"))
        if missing:
            raise FoldError(f"{fold}/{part}/emotion: no label for {sorted(missing)[:5]}")
    test_spk = set(utt2spk["test"].values())
    for part in ("train", "valid"):
        leaked = test_spk & set(utt2spk[part].values())
        if leaked:
            raise FoldError(
                f"{fold}: test speaker(s) {sorted(leaked)} also in {part}; a fold's test speakers must "
                f"not appear in train or valid"
            )
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1 :]:
            shared = set(utt2spk[a]) & set(utt2spk[b])
            if shared:
                raise FoldError(f"{fold}: utterances in both {a} and {b}: {sorted(shared)[:5]}")
    return {part: len(utt2spk[part]) for part in PARTS}


def derive_fold(corpus: PathLike, src: PathLike, dst: PathLike) -> Dict[str, int]:
    """Rebuild fold ``src`` from the rows of the formatted ``corpus`` dir (utterances that
    formatting excluded drop out), check it, and swap it in at ``dst``."""
    corpus, src, dst = Path(corpus), Path(src), Path(dst)
    available = set(read_table(corpus / "wav.scp"))
    with staged_dir(dst) as staging:
        for part in PARTS:
            keys = [k for k in read_table(src / part / "emotion") if k in available]
            subset_data_dir(corpus, staging / part, keys)
        counts = check_fold(staging)
    return counts


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="verify fold dirs; exit 1 with the reason on the first bad one")
    check.add_argument("folds", nargs="+")
    derive = sub.add_parser("derive", help="rebuild a fold from a formatted corpus dir")
    derive.add_argument("--corpus", required=True, help="formatted corpus dir")
    derive.add_argument("--fold", nargs=2, action="append", required=True, metavar=("SRC", "DST"))
    args = parser.parse_args(argv)
    try:
        for src, dst in getattr(args, "fold", []):
            counts = derive_fold(args.corpus, src, dst)
            print(f"{dst}: ok " + " ".join(f"{p}={n}" for p, n in counts.items()))
        for fold in getattr(args, "folds", []):
            counts = check_fold(fold)
            print(f"{fold}: ok " + " ".join(f"{p}={n}" for p, n in counts.items()))
    except DataDirError as err:
        sys.exit(f"ERROR: fold integrity: {err}")


if __name__ == "__main__":
    main()
