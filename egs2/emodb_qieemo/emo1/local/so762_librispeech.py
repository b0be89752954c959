"""speechocean762 + LibriSpeech to the demo's ASR sets, every evaluation speaker unseen.

Learners' read English alone (2.8 h) leaves CTC on its plateau; real LibriSpeech read speech
(e.g. Mini LibriSpeech train-clean-5, 5.3 h) more than doubles the data in the paper's own
pretraining corpus family. Training: speechocean762 ``train/`` plus the LibriSpeech subsets minus
four held-out speakers. Validation: speechocean762's validation speakers plus two held-out
LibriSpeech speakers. Test, one set per corpus so that WER and CER are reported per corpus:
speechocean762's test speakers, and the other two held-out LibriSpeech speakers. The held-out
speakers of each set are as many female as male (SPEAKERS.TXT), so no set leans on one gender.

Usage (from the recipe dir): ``python -m local.so762_librispeech --so762 <speechocean762>
--librispeech <LibriSpeech> --subsets train-clean-5 --out data
[--valid_speakers "1737 7312" --test_speakers "32 3664"]``
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, Sequence, Tuple

from pyscripts import librispeech, speechocean762
from pyscripts.kaldi_dir import DataDirError, write_sets

Tables = Dict[str, Dict[str, str]]
# Per gender, the two train-clean-5 speakers with the fewest utterances: they cost training least.
VALID_SPEAKERS = ("1737", "7312")  # F, M
TEST_SPEAKERS = ("32", "3664")  # F, M


def prefixed(tables: Tables, prefix: str) -> Tables:
    """Corpus-prefixed ids, speaker first, so that the two corpora can never share a key."""
    out: Tables = {"wav.scp": {}, "text": {}, "utt2spk": {}}
    for utt, spk in tables["utt2spk"].items():
        key = f"{prefix}{utt}"
        out["wav.scp"][key] = tables["wav.scp"][utt]
        out["text"][key] = tables["text"][utt]
        out["utt2spk"][key] = f"{prefix}{spk}"
    return out


def prepare(
    so762: Path,
    libri_root: Path,
    subsets: Sequence[str],
    out: Path,
    names: Tuple[str, str, str, str] = ("asr_train", "asr_valid", "asr_test", "asr_test_librispeech"),
    valid_speakers: Sequence[str] = VALID_SPEAKERS,
    test_speakers: Sequence[str] = TEST_SPEAKERS,
) -> None:
    """Write train, valid, and the two test sets under ``out`` together (all or none)."""
    so_train = speechocean762.read_part(so762, "train")
    so_valid, so_test = speechocean762.split_speakers(speechocean762.read_part(so762, "test"), 5)
    libri = librispeech.merge([librispeech.read_subset(libri_root, s) for s in subsets])
    groups = [("valid", valid_speakers), ("test", test_speakers)]
    ls_valid, ls_test, ls_train = (prefixed(t, "libri_") for t in librispeech.hold_out(libri_root, libri, groups))
    sets = (librispeech.merge([so_train, ls_train]), librispeech.merge([so_valid, ls_valid]), so_test, ls_test)
    write_sets(out, list(zip(names, sets)))


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--so762", type=Path, required=True, help="speechocean762 folder (train/, test/, WAVE/)")
    parser.add_argument("--librispeech", type=Path, required=True, help="LibriSpeech folder (subsets, SPEAKERS.TXT)")
    parser.add_argument("--subsets", default="train-clean-5", help="space-separated LibriSpeech subsets")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train_set", default="asr_train")
    parser.add_argument("--valid_set", default="asr_valid")
    parser.add_argument("--test_sets", default="asr_test asr_test_librispeech", help="speechocean762's, LibriSpeech's")
    parser.add_argument("--valid_speakers", default=" ".join(VALID_SPEAKERS), help="LibriSpeech ids: one F, one M")
    parser.add_argument("--test_speakers", default=" ".join(TEST_SPEAKERS), help="LibriSpeech ids: one F, one M")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    tests = args.test_sets.split()
    try:
        if len(tests) != 2:
            raise DataDirError(f"--test_sets {args.test_sets!r}: expected two names (speechocean762, LibriSpeech)")
        names = (args.train_set, args.valid_set, tests[0], tests[1])
        prepare(
            args.so762,
            args.librispeech,
            args.subsets.split(),
            args.out,
            names,
            args.valid_speakers.split(),
            args.test_speakers.split(),
        )
    except DataDirError as err:
        sys.exit(f"ERROR: speechocean762 + LibriSpeech prep: {err}")


if __name__ == "__main__":
    main()
