"""Word and character error rates of ASR decoding output.

Pip-installed ESPnet has no sclite wrapper, so the recipe scores here: Levenshtein
distance per utterance over words and over characters (spaces excluded), summed over the
set. An utterance missing from the hypothesis counts as all deletions.

Usage (from a recipe dir): ``python -m pyscripts.asr_wer --ref dump/raw/asr_test/text
--hyp <decode dir>/text --out <decode dir>/result.txt``
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import editdistance

from pyscripts.kaldi_dir import DataDirError, read_table, write_lines


def error_counts(ref: Dict[str, str], hyp: Dict[str, str], unit: str) -> Tuple[int, int]:
    """(edit errors, reference length) summed over ``ref``; unit is 'word' or 'char'."""
    errors = length = 0
    for utt, text in ref.items():
        r, h = split(text, unit), split(hyp.get(utt, ""), unit)
        errors += editdistance.eval(r, h)
        length += len(r)
    return errors, length


def split(text: str, unit: str) -> List[str]:
    return text.split() if unit == "word" else list(text.replace(" ", ""))


def score(ref_path: Path, hyp_path: Path) -> List[str]:
    ref = read_table(ref_path)
    hyp = read_table(hyp_path, allow_empty_value=True) if hyp_path.is_file() else {}
    if not ref:
        raise DataDirError(f"{ref_path}: no reference transcripts")
    lines = [
        f"ref: {ref_path}",
        f"hyp: {hyp_path}",
        f"utterances: {len(ref)} (missing in hyp: {sum(1 for u in ref if u not in hyp)})",
    ]
    for unit, name in (("word", "WER"), ("char", "CER")):
        errors, length = error_counts(ref, hyp, unit)
        lines.append(f"{name}: {100.0 * errors / max(length, 1):.2f} % ({errors} / {length})")
    return lines


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", type=Path, required=True)
    parser.add_argument("--hyp", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        lines = score(args.ref, args.hyp)
    except DataDirError as err:
        sys.exit(f"ERROR: WER scoring: {err}")
    write_lines(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
