"""IEMOCAP to a Kaldi data dir, its class list and five session folds.

Keeps the four-class protocol of the paper and its peers: neu, hap (hap + exc merged), ang,
sad; every other label (fru, sur, fea, dis, oth, xxx) is dropped. A speaker is session +
gender (``Ses01F``), the letter before an utterance id's final digits. Fold ``k`` tests
Session ``k``.

Usage (from the recipe dir): ``python -m local.iemocap --iemocap <IEMOCAP_full_release> --out data``
"""

import argparse
import logging
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

from pyscripts.folds import write_corpus_and_folds
from pyscripts.kaldi_dir import DataDirError

SESSIONS = tuple(f"Session{k}" for k in range(1, 6))
LABEL_MAP = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
LABELS = ("neu", "hap", "ang", "sad")  # class order of training, scores and confusion matrices
FULL_TOTAL = 5531
FULL_TEST_SIZES = (1085, 1023, 1151, 1031, 1241)
# "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]"
EVAL_LINE = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\t(\S+)\t(\S+)\t\[")
# "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
TRANS_LINE = re.compile(r"^(Ses\d\d[FM]_\S+_[FM]\d+)\s+\[[^\]]*\]:\s*(.*)$")
UTT_ID = re.compile(r"^Ses(\d\d)[FM]_.+_([FM])\d+$")


class CorpusError(DataDirError):
    """The corpus tree is not where, or not what, the recipe expects."""


def check_tree(root: Path) -> None:
    """Fail early, naming the path, when ``root`` is not an IEMOCAP_full_release tree."""
    if not root.is_dir():
        raise CorpusError(
            f"IEMOCAP={root}: no such directory; set IEMOCAP in db.sh (or the IEMOCAP environment "
            f"variable) to the IEMOCAP_full_release folder holding {', '.join(SESSIONS)}"
        )
    missing = [s for s in SESSIONS if not (root / s / "dialog" / "EmoEvaluation").is_dir()]
    if missing:
        raise CorpusError(
            f"IEMOCAP={root}: expected <session>/dialog/EmoEvaluation/ for {', '.join(SESSIONS)}; "
            f"missing for {', '.join(missing)}"
        )


def read_labels(session_dir: Path) -> Dict[str, str]:
    """utt -> raw label from every ``dialog/EmoEvaluation/*.txt`` of one session."""
    files = sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt"))
    if not files:
        raise CorpusError(f"{session_dir}/dialog/EmoEvaluation: no <dialog>.txt label files")
    labels = {}
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = EVAL_LINE.match(line)
            if m:
                labels[m.group(1)] = m.group(2)
    return labels


def read_transcripts(session_dir: Path) -> Dict[str, str]:
    """utt -> text from ``dialog/transcriptions/*.txt`` (absent transcripts are allowed)."""
    texts = {}
    for path in sorted((session_dir / "dialog" / "transcriptions").glob("*.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = TRANS_LINE.match(line.strip())
            if m and m.group(2).strip():
                texts[m.group(1)] = m.group(2).strip()
    return texts


def speaker_of(utt: str) -> str:
    m = UTT_ID.match(utt)
    if m is None:
        raise CorpusError(f"utterance id {utt!r}: expected Ses<NN><F|M>_<dialog>_<F|M><NNN>")
    return f"Ses{m.group(1)}{m.group(2)}"


def collect(root: Path) -> Tuple[Dict[str, Dict[str, str]], Dict[str, str], Counter]:
    """Kaldi tables and utt -> session for the kept classes, plus raw-label counts."""
    tables: Dict[str, Dict[str, str]] = {"wav.scp": {}, "emotion": {}, "utt2spk": {}, "text": {}}
    utt2session: Dict[str, str] = {}
    raw_counts: Counter = Counter()
    missing_audio: List[str] = []
    for session in SESSIONS:
        sdir = root / session
        texts = read_transcripts(sdir)
        for utt, raw in sorted(read_labels(sdir).items()):
            raw_counts[raw] += 1
            if raw not in LABEL_MAP:
                continue
            wav = sdir / "sentences" / "wav" / utt.rsplit("_", 1)[0] / f"{utt}.wav"
            if not wav.is_file():
                missing_audio.append(str(wav))
                continue
            tables["wav.scp"][utt] = str(wav.resolve())
            tables["emotion"][utt] = LABEL_MAP[raw]
            tables["utt2spk"][utt] = speaker_of(utt)
            if utt in texts:
                tables["text"][utt] = texts[utt]
            utt2session[utt] = session
    if missing_audio:
        raise CorpusError(
            f"{len(missing_audio)} labelled utterance(s) have no audio at "
            f"Session<k>/sentences/wav/<dialog>/<utt>.wav, e.g. {missing_audio[:3]}"
        )
    if not tables["text"]:
        del tables["text"]
    return tables, utt2session, raw_counts


def session_table(emotion: Mapping[str, str], utt2session: Mapping[str, str]) -> str:
    """Per-session class counts as a fixed-width text table."""
    classes = LABELS
    rows = [f"{'session':10s}" + "".join(f"{c:>7s}" for c in classes) + f"{'total':>8s}"]
    for session in SESSIONS:
        counts = Counter(emotion[u] for u in emotion if utt2session[u] == session)
        rows.append(f"{session:10s}" + "".join(f"{counts[c]:7d}" for c in classes) + f"{sum(counts.values()):8d}")
    rows.append(
        f"{'all':10s}"
        + "".join(f"{sum(1 for v in emotion.values() if v == c):7d}" for c in classes)
        + f"{len(emotion):8d}"
    )
    return "\n".join(rows)


def report(emotion: Mapping[str, str], utt2session: Mapping[str, str], raw_counts: Counter) -> None:
    """Log the per-session table; warn when it differs from the full corpus' published counts."""
    table = session_table(emotion, utt2session)
    sizes = tuple(sum(1 for u in emotion if utt2session[u] == s) for s in SESSIONS)
    logging.info("raw labels: %s", dict(sorted(raw_counts.items())))
    if len(emotion) == FULL_TOTAL and sizes == FULL_TEST_SIZES:
        logging.info(
            "IEMOCAP: %d utterances, test folds %s (the full corpus)\n%s",
            len(emotion),
            "/".join(map(str, sizes)),
            table,
        )
    else:
        logging.warning(
            "IEMOCAP: %d utterances, test folds %s; the full corpus gives %d and %s. Per-session counts:\n%s",
            len(emotion),
            "/".join(map(str, sizes)),
            FULL_TOTAL,
            "/".join(map(str, FULL_TEST_SIZES)),
            table,
        )


def prepare(root: Path, out: Path, valid_ratio: float, seed: int) -> List[Path]:
    check_tree(root)
    tables, utt2session, raw_counts = collect(root)
    report(tables["emotion"], utt2session, raw_counts)
    return write_corpus_and_folds(out, "iemocap", tables, utt2session, SESSIONS, valid_ratio, seed, LABELS)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iemocap", type=Path, required=True, help="IEMOCAP_full_release folder")
    parser.add_argument("--out", type=Path, required=True, help="writes <out>/iemocap and <out>/fold1..5")
    parser.add_argument("--valid_ratio", type=float, default=0.1, help="share of training utterances for valid")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation draw")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        prepare(args.iemocap, args.out, args.valid_ratio, args.seed)
    except DataDirError as err:
        sys.exit(f"ERROR: IEMOCAP prep: {err}")


if __name__ == "__main__":
    main()
