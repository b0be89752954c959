"""Corpus trees in the layouts the recipe expects, built from the real audio under ``data_root``.

IEMOCAP layout: EmoDB's ten speakers as five sessions of one male + one female speaker, with
made-up but well-formed EmoEvaluation and transcription files (including exc, fru and xxx
labels that stage 1 must merge or drop). The audio stays at EmoDB's 22.05 kHz, and one file
is stereo and one is far too short, so stage 3 must resample, down-mix and exclude.
LibriSpeech layout: FSDD digits (8 kHz) and mini AN4 (16 kHz) as flac under
``<subset>/<spk>/<chapter>/``.
"""

import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import soundfile

EGS2 = Path(__file__).resolve().parents[2] / "egs2"


def recipe_tools() -> None:
    """Import the recipe tools the way the recipes run them, without running from a recipe dir.

    ``pyscripts`` (shared, linked into every recipe) comes from ``egs2/TEMPLATE/emo1``. Both
    recipes have a ``local/``, so each one's is importable under its own package name,
    ``emodb_local`` and ``iemocap_local`` (``from emodb_local import demo_results``): one
    pytest process never merges the two, and relative imports inside a ``local/`` still work.
    """
    template = str(EGS2 / "TEMPLATE" / "emo1")
    if template not in sys.path:
        sys.path.insert(0, template)
    for package, recipe in (("emodb_local", "emodb_qieemo"), ("iemocap_local", "iemocap_qieemo")):
        if package not in sys.modules:
            spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
            spec.submodule_search_locations = [str(EGS2 / recipe / "emo1" / "local")]
            sys.modules[package] = importlib.util.module_from_spec(spec)


recipe_tools()

MALES = ("03", "10", "11", "12", "15")
FEMALES = ("08", "09", "13", "14", "16")
# EmoDB emotion letter -> IEMOCAP label written into EmoEvaluation (two F files: hap and exc).
EMODB_TO_IEMOCAP = (("N", "neu"), ("F", "hap"), ("F", "exc"), ("W", "ang"), ("T", "sad"), ("L", "fru"), ("A", "xxx"))
KEPT = {"neu", "hap", "exc", "ang", "sad"}
DIGITS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")


@dataclass
class IemocapTree:
    root: Path
    kept: Dict[str, str]  # utt -> label after the 4-class merge (before stage-3 exclusions)
    too_short: str  # utt stage 3 must exclude


def emodb_files(wav_dir: Path, speaker: str, letter: str) -> List[Path]:
    return sorted(wav_dir.glob(f"{speaker}*{letter}?.wav"))


def eval_block(utt: str, label: str, start: float) -> List[str]:
    return [
        f"[{start:.4f} - {start + 2:.4f}]\t{utt}\t{label}\t[2.5000, 3.0000, 2.5000]",
        "C-E1:\tNeutral;\t()",
        "A-E1:\tval 3; act 3; dom  3;\t()",
        "",
    ]


def make_iemocap_tree(root: Path, emodb_wav: Path) -> IemocapTree:
    """One dialog per session; one utterance per (speaker, label) pair of EMODB_TO_IEMOCAP."""
    kept, too_short = {}, ""
    for k, (male, female) in enumerate(zip(MALES, FEMALES), 1):
        sdir = root / f"Session{k}"
        dialog = f"Ses0{k}F_impro01"
        wav_dir = sdir / "sentences" / "wav" / dialog
        for sub in (wav_dir, sdir / "dialog" / "EmoEvaluation", sdir / "dialog" / "transcriptions"):
            sub.mkdir(parents=True)
        evals = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        trans = []
        for gender, speaker in (("F", female), ("M", male)):
            used: Dict[str, int] = {}
            for n, (letter, label) in enumerate(EMODB_TO_IEMOCAP):
                src = emodb_files(emodb_wav, speaker, letter)[used.get(letter, 0)]
                used[letter] = used.get(letter, 0) + 1
                utt = f"{dialog}_{gender}{n:03d}"
                signal, fs = soundfile.read(src, dtype="float32")
                if k == 1 and gender == "F" and label == "ang":
                    signal = np.stack([signal, 0.5 * signal], axis=1)  # stereo: stage 3 down-mixes
                soundfile.write(wav_dir / f"{utt}.wav", signal, fs)
                evals += eval_block(utt, label, 2.5 * n)
                trans.append(f"{utt} [{2.5 * n:08.4f}-{2.5 * n + 2:08.4f}]: Made-up line {n} of {speaker}.")
                if label in KEPT:
                    kept[utt] = "hap" if label == "exc" else label
        if k == 1:  # 50 ms of speech: stage 3 must exclude it as too short
            too_short = f"{dialog}_F900"
            soundfile.write(wav_dir / f"{too_short}.wav", 0.1 * np.random.default_rng(0).standard_normal(800), 16000)
            evals += eval_block(too_short, "neu", 99.0)
            kept[too_short] = "neu"
        (sdir / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evals) + "\n")
        (sdir / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(trans) + "\n")
    return IemocapTree(root, kept, too_short)


def an4_pairs(path: Path) -> List[tuple]:
    pairs = []
    for line in path.read_text().splitlines():
        body, utt = line.strip().rsplit("(", 1)
        pairs.append((utt.rstrip(")"), body.replace("<s>", "").replace("</s>", "").strip()))
    return pairs


def write_chapter(root: Path, subset: str, spk: int, items: List[tuple]) -> None:
    """items: ([source audio], TEXT) -> <subset>/<spk>/100/<spk>-100-<nnnn>.flac + trans.txt.

    Several sources (all at one rate) are concatenated: FSDD digits alone are shorter than
    stage 3's minimum. The rate is kept, so stage 3 resamples FSDD's 8 kHz but not AN4's 16 kHz.
    """
    chapter = root / subset / str(spk) / "100"
    chapter.mkdir(parents=True, exist_ok=True)
    lines = []
    for n, (sources, text) in enumerate(items):
        utt = f"{spk}-100-{n:04d}"
        parts = [soundfile.read(p, dtype="float32") for p in sources]
        assert len({fs for _, fs in parts}) == 1, sources
        soundfile.write(chapter / f"{utt}.flac", np.concatenate([s for s, _ in parts]), parts[0][1])
        lines.append(f"{utt} {text}")
    (chapter / f"{spk}-100.trans.txt").write_text("\n".join(lines) + "\n")


def make_librispeech_tree(root: Path, data_root: Path, per_speaker: int = 6) -> Path:
    """train: AN4 train + FSDD digit triples of four speakers; dev / test: FSDD of two others
    (plus the AN4 test list in test)."""
    fsdd = data_root / "fsdd" / "recordings"
    an4 = data_root / "mini_an4" / "an4"
    an4_train = [
        ([an4 / "wav" / "an4_clstk" / u.split("-")[1] / f"{u}.sph"], t)
        for u, t in an4_pairs(an4 / "etc" / "an4_train.transcription")
    ]
    an4_test = [
        ([an4 / "wav" / "an4test_clstk" / u.split("-")[1] / f"{u}.sph"], t)
        for u, t in an4_pairs(an4 / "etc" / "an4_test.transcription")
    ]

    def digits(speaker: str, take: int) -> List[tuple]:
        items = []
        for n in range(take):
            ds = [(3 * n + i) % 10 for i in range(3)]
            items.append(([fsdd / f"{d}_{speaker}_{n}.wav" for d in ds], " ".join(DIGITS[d] for d in ds)))
        return items

    write_chapter(root, "train-tiny", 1, an4_train)
    for spk, name in enumerate(("george", "jackson", "lucas", "nicolas"), 2):
        write_chapter(root, "train-tiny", spk, digits(name, per_speaker))
    write_chapter(root, "dev-tiny", 6, digits("theo", 4))
    write_chapter(root, "test-tiny", 7, digits("yweweler", 3))
    write_chapter(root, "test-tiny", 8, an4_test)
    return root


@pytest.fixture(scope="session")
def corpus_trees(tmp_path_factory, data_root):
    """(IemocapTree, LibriSpeech root), built once per test session."""
    base = tmp_path_factory.mktemp("corpora")
    iemocap = make_iemocap_tree(base / "IEMOCAP_full_release", data_root / "emodb" / "wav")
    libri = make_librispeech_tree(base / "LibriSpeech", data_root)
    return iemocap, libri
