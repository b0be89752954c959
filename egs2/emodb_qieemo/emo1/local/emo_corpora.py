"""EmoDB, RAVDESS and TESS as one four-class emotion corpus, and leave-one-corpus-out folds.

Each corpus maps its own emotion codes to neu / hap / ang / sad in one declared table
(``EMODB_TABLE``, ``RAVDESS_TABLE``, ``TESS_TABLE``); every other emotion is dropped, RAVDESS's
calm included (calm is not neutral). Speaker ids are prefixed with the corpus (``ravdess_07``)
and utterance ids with their speaker id (``ravdess_07_03-01-05-01-01-01-07``), so speakers of
different corpora never merge and Kaldi's utt2spk / spk2utt orders agree.

Leave-one-corpus-out: fold k tests the k-th corpus (all its speakers); train and valid come from
the other corpora, and no validation speaker is a training speaker: per training corpus,
``valid_ratio`` of its speakers (at least one, never all; alternating gender) go to valid. Train
and valid are each balanced over corpus and class as far as the data allows: each (corpus,
class) cell keeps at most as many utterances as the largest cell of the corpus with the fewest
utterances in that part (TESS's two speakers would otherwise outweigh EmoDB's ten); the
utterances left out are used nowhere. ``all`` splits every corpus the same way, without a test
part: the data of the model trained on all of them.

Usage (from the recipe dir; the folds use emo.sh's layout, so write them where no EmoDB folds are):
  python -m local.emo_corpora --emodb <emodb>/wav --ravdess <ravdess> --tess <tess> --out data_loco
writes <out>/corpora/{wav.scp,emotion,utt2spk,labels,heldout}, <out>/fold<k>/{train,valid,test}
and <out>/all/{train,valid}; ``heldout`` lists ``fold<k> <corpus>``.
"""

import argparse
import logging
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Sequence, Tuple

from pyscripts.folds import PARTS, FoldError, check_fold
from pyscripts.kaldi_dir import (
    DataDirError,
    read_table,
    staged_dirs,
    subset_data_dir,
    write_data_dir,
    write_lines,
)

from .emodb import FOUR_CLASSES, MALES, CorpusError, label_list, parse_name

LABELS = label_list(all_classes=False)  # neu hap ang sad: the class order of every corpus
AUDIO_SUFFIXES = (".wav", ".ogg", ".flac")
ALL = "all"  # the split of every corpus (train, valid) for the model trained on all of them

# The declared mappings: the corpus's own emotion code -> class. Codes not listed are dropped.
EMODB_TABLE = FOUR_CLASSES  # N neutral, F happiness, W anger, T sadness (local/emodb.py)
RAVDESS_TABLE = {"01": "neu", "03": "hap", "05": "ang", "04": "sad"}  # 02 calm is not neutral
TESS_TABLE = {"neutral": "neu", "happy": "hap", "angry": "ang", "sad": "sad"}
# RAVDESS codes 01-08: neutral, calm, happy, sad, angry, fearful, disgust, surprised
RAVDESS_CODES = tuple(f"{i:02d}" for i in range(1, 9))
TESS_CODES = ("angry", "disgust", "fear", "happy", "neutral", "ps", "sad")

RAVDESS_NAME = re.compile(r"^03-01-(\d\d)-0[12]-0[12]-0[12]-(\d\d)$")
TESS_NAME = re.compile(r"^([A-Z]+)_[^_]+_([a-z]+)$")


class Item(NamedTuple):
    """What a file name says: the corpus's speaker code, emotion code and the speaker's gender."""

    speaker: str
    code: str
    gender: str


def parse_emodb(path: Path) -> Item:
    speaker, letter = parse_name(path)
    return Item(speaker, letter, "M" if speaker in MALES else "F")


def parse_ravdess(path: Path) -> Item:
    m = RAVDESS_NAME.match(path.stem)
    if not m or m.group(1) not in RAVDESS_CODES or path.parent.name != f"Actor_{m.group(2)}":
        raise CorpusError(
            f"{path}: not a RAVDESS speech file; expected Actor_NN/03-01-<emotion 01-08>-<intensity 01|02>-"
            "<statement 01|02>-<repetition 01|02>-NN.<wav|ogg> with NN the actor of the folder"
        )
    actor = m.group(2)
    return Item(actor, m.group(1), "M" if int(actor) % 2 else "F")  # odd actors are male


def parse_tess(path: Path) -> Item:
    m = TESS_NAME.match(path.stem)
    if not m or m.group(2) not in TESS_CODES or path.parent.name != f"{m.group(1)}_{m.group(2)}":
        raise CorpusError(
            f"{path}: not a TESS file; expected <SPK>_<emotion>/<SPK>_<word>_<emotion>.<wav|ogg> with emotion "
            f"in {list(TESS_CODES)}"
        )
    return Item(m.group(1), m.group(2), "F")  # both TESS speakers are women


@dataclass(frozen=True)
class Corpus:
    name: str
    table: Mapping[str, str]
    parse: Callable[[Path], Item]
    variable: str  # db.sh variable naming its folder


CORPORA = (
    Corpus("emodb", EMODB_TABLE, parse_emodb, "EMODB"),
    Corpus("ravdess", RAVDESS_TABLE, parse_ravdess, "RAVDESS"),
    Corpus("tess", TESS_TABLE, parse_tess, "TESS"),
)
BY_NAME = {c.name: c for c in CORPORA}


@dataclass
class Collected:
    tables: Dict[str, Dict[str, str]]  # wav.scp, emotion, utt2spk
    spk2gender: Dict[str, str]
    dropped: Counter  # emotion code -> files not kept


def collect(corpus: Corpus, root: Path) -> Collected:
    """The kept utterances of one corpus folder, with corpus-prefixed speaker and utterance ids."""
    if not root.is_dir():
        raise CorpusError(f"{corpus.variable}={root}: no such directory; set {corpus.variable} in db.sh")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise CorpusError(f"{root}: no audio files ({', '.join(AUDIO_SUFFIXES)}) for {corpus.name}")
    out = Collected({"wav.scp": {}, "emotion": {}, "utt2spk": {}}, {}, Counter())
    for path in files:
        item = corpus.parse(path)
        if item.code not in corpus.table:
            out.dropped[item.code] += 1
            continue
        speaker = f"{corpus.name}_{item.speaker}"
        utt = f"{speaker}_{path.stem}"
        if utt in out.tables["wav.scp"]:
            raise CorpusError(f"{path}: a second file of utterance {path.stem} ({out.tables['wav.scp'][utt]})")
        out.tables["wav.scp"][utt] = str(path.resolve())
        out.tables["emotion"][utt] = corpus.table[item.code]
        out.tables["utt2spk"][utt] = speaker
        out.spk2gender[speaker] = item.gender
    logging.info(
        "%s: %d utterances of %d speakers kept, dropped %s",
        corpus.name,
        len(out.tables["emotion"]),
        len(out.spk2gender),
        dict(sorted(out.dropped.items())) or "nothing",
    )
    return out


def corpus_of(utt_or_speaker: str) -> str:
    return utt_or_speaker.split("_", 1)[0]


def valid_speakers(spk2gender: Mapping[str, str], ratio: float, rng: random.Random) -> List[str]:
    """``ratio`` of one corpus's speakers (at least one, never all), alternating gender."""
    if len(spk2gender) < 2:
        return []
    count = min(len(spk2gender) - 1, max(1, round(ratio * len(spk2gender))))
    by_gender: Dict[str, List[str]] = defaultdict(list)
    for speaker in sorted(spk2gender):
        by_gender[spk2gender[speaker]].append(speaker)
    for members in by_gender.values():
        rng.shuffle(members)
    queues = [by_gender[g] for g in sorted(by_gender, key=lambda g: (-len(by_gender[g]), g))]
    order = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    return sorted(order[:count])


def balance(utts: Sequence[str], emotion: Mapping[str, str], rng: random.Random) -> List[str]:
    """At most as many utterances per (corpus, class) cell as the largest cell of the corpus
    with the fewest utterances."""
    cells: Dict[Tuple[str, str], List[str]] = defaultdict(list)
    for utt in sorted(utts):
        cells[corpus_of(utt), emotion[utt]].append(utt)
    totals = Counter(corpus_of(u) for u in utts)
    smallest = min(totals, key=lambda c: (totals[c], c))
    cap = max(len(members) for (corpus, _), members in cells.items() if corpus == smallest)
    kept: List[str] = []
    for key in sorted(cells):
        members = cells[key]
        rng.shuffle(members)
        kept += members[:cap]
    return sorted(kept)


def split_speakers(
    names: Sequence[str],
    collected: Mapping[str, Collected],
    emotion: Mapping[str, str],
    valid_ratio: float,
    rng: random.Random,
) -> Dict[str, List[str]]:
    """Train / valid utterance ids of the corpora ``names``: speaker-disjoint, each balanced."""
    parts: Dict[str, List[str]] = {"train": [], "valid": []}
    for name in sorted(names):
        data = collected[name]
        chosen = set(valid_speakers(data.spk2gender, valid_ratio, rng))
        for utt, speaker in sorted(data.tables["utt2spk"].items()):
            parts["valid" if speaker in chosen else "train"].append(utt)
    return {part: balance(utts, emotion, rng) if utts else [] for part, utts in parts.items()}


def loco_fold(
    heldout: str, collected: Mapping[str, Collected], emotion: Mapping[str, str], valid_ratio: float, seed: int
) -> Dict[str, List[str]]:
    """Utterance ids of train / valid / test when ``heldout`` is the test corpus."""
    parts = split_speakers(sorted(set(collected) - {heldout}), collected, emotion, valid_ratio, random.Random(seed))
    return {**parts, "test": sorted(collected[heldout].tables["emotion"])}


def check_loco_fold(fold: Path, heldout: str) -> Dict[str, int]:
    """:func:`check_fold`, and: test is the held-out corpus alone, valid speakers are not training
    speakers. Raises :class:`FoldError` naming the fold."""
    counts = check_fold(fold)
    speakers = {part: set(read_table(fold / part / "utt2spk").values()) for part in PARTS}
    shared = speakers["train"] & speakers["valid"]
    if shared:
        raise FoldError(f"{fold}: speaker(s) {sorted(shared)[:5]} in both train and valid; they must be disjoint")
    if {corpus_of(s) for s in speakers["test"]} != {heldout}:
        raise FoldError(f"{fold}/test: expected speakers of {heldout!r} only, got {sorted(speakers['test'])[:5]}")
    inside = sorted(s for part in ("train", "valid") for s in speakers[part] if corpus_of(s) == heldout)
    if inside:
        raise FoldError(f"{fold}: held-out corpus {heldout!r} has speaker(s) {inside[:5]} in train or valid")
    return counts


def write_fold(corpus_dir: Path, fold_dir: Path, heldout: str, parts: Mapping[str, Sequence[str]]) -> None:
    """The parts' rows of ``corpus_dir`` into ``fold_dir/<part>``, then :func:`check_loco_fold`."""
    for part, keys in parts.items():
        if not keys:
            raise FoldError(f"{fold_dir.name}/{part}: empty (held out: {heldout}); valid needs a corpus of 2+ speakers")
        subset_data_dir(corpus_dir, fold_dir / part, keys)
    check_loco_fold(fold_dir, heldout)


def write_all(corpus_dir: Path, all_dir: Path, parts: Mapping[str, Sequence[str]]) -> None:
    """Train and valid of the model trained on every corpus: non-empty, speaker-disjoint."""
    for part, keys in parts.items():
        if not keys:
            raise FoldError(f"{all_dir.name}/{part}: empty; valid needs corpora of 2+ speakers")
        subset_data_dir(corpus_dir, all_dir / part, keys)
    speakers = {part: set(read_table(all_dir / part / "utt2spk").values()) for part in parts}
    shared = speakers["train"] & speakers["valid"]
    if shared:
        raise FoldError(f"{all_dir}: speaker(s) {sorted(shared)[:5]} in both train and valid")


def report(fold: str, heldout: str, parts: Mapping[str, Sequence[str]], emotion: Mapping[str, str]) -> None:
    rows = [f"{'part':7s}{'corpus':9s}" + "".join(f"{c:>6s}" for c in LABELS) + f"{'total':>7s}"]
    for part in PARTS:
        counts = Counter((corpus_of(u), emotion[u]) for u in parts.get(part, []))
        for corpus in sorted({c for c, _ in counts}):
            row = [counts[corpus, c] for c in LABELS]
            rows.append(f"{part:7s}{corpus:9s}" + "".join(f"{n:6d}" for n in row) + f"{sum(row):7d}")
    logging.info("%s (held out: %s):\n%s", fold, heldout, "\n".join(rows))


def prepare(roots: Mapping[str, Path], out: Path, name: str = "corpora", valid_ratio: float = 0.2, seed: int = 0):
    """Write ``out/<name>`` (all kept utterances, labels, heldout) and ``out/fold<k>``, k = 1.. in
    the order of ``CORPORA``: all of them after their checks passed, or nothing."""
    unknown = sorted(set(roots) - set(BY_NAME))
    if unknown or len(roots) < 2:
        raise CorpusError(f"corpora {sorted(roots)}: expected at least two of {list(BY_NAME)}")
    names = [c.name for c in CORPORA if c.name in roots]
    collected = {n: collect(BY_NAME[n], Path(roots[n])) for n in names}
    tables = {
        t: {k: v for c in collected.values() for k, v in c.tables[t].items()} for t in ("wav.scp", "emotion", "utt2spk")
    }
    folds = [f"fold{k}" for k in range(1, len(names) + 1)]
    with staged_dirs(out, [name, *folds, ALL]) as staging:
        write_data_dir(staging / name, tables)
        write_lines(staging / name / "labels", LABELS)
        write_lines(staging / name / "heldout", [f"{f} {n}" for f, n in zip(folds, names)])
        for k, (fold, heldout) in enumerate(zip(folds, names), 1):
            parts = loco_fold(heldout, collected, tables["emotion"], valid_ratio, seed + k)
            write_fold(staging / name, staging / fold, heldout, parts)
            report(fold, heldout, parts, tables["emotion"])
        parts = split_speakers(names, collected, tables["emotion"], valid_ratio, random.Random(seed))
        write_all(staging / name, staging / ALL, parts)
        report(ALL, "none", {**parts, "test": []}, tables["emotion"])
    return [Path(out) / f for f in folds]


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for corpus in CORPORA:
        parser.add_argument(f"--{corpus.name}", type=Path, help=f"{corpus.name} folder (db.sh: {corpus.variable})")
    parser.add_argument("--out", type=Path, required=True, help="writes <out>/<name> and <out>/fold1..")
    parser.add_argument("--name", default="corpora", help="name of the combined data dir")
    parser.add_argument("--valid_ratio", type=float, default=0.2, help="share of each training corpus's speakers")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation speakers and balancing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    roots = {c.name: getattr(args, c.name) for c in CORPORA if getattr(args, c.name) is not None}
    try:
        prepare(roots, args.out, args.name, args.valid_ratio, args.seed)
    except DataDirError as err:
        sys.exit(f"ERROR: emotion corpora prep: {err}")


if __name__ == "__main__":
    main()
