"""`./run.sh --stage 6 --stop_stage 7 --loco true --default_model true` on small real copies of
EmoDB, RAVDESS and TESS: the leave-one-corpus-out table with its SVM and calibration columns,
the recipe chosen from it, and the calibrated multi-corpus default model, packed."""

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils import audio

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "egs2" / "emodb_qieemo" / "emo1"
CANDIDATES = "aug|"  # one recipe keeps the run short; choosing among several: test_loco_results.py


def small_corpora(data_root: Path, root: Path) -> dict:
    """Links to real files: 2 EmoDB speakers, 2 RAVDESS actors, TESS's 2 speakers x 4 words (each
    corpus needs two speakers: one trains, one validates)."""
    emodb, ravdess, tess = root / "emodb", root / "ravdess", root / "tess"
    emodb.mkdir(parents=True)
    for path in sorted((data_root / "emodb" / "wav").glob("*.wav")):
        if path.stem[:2] in ("03", "08"):
            (emodb / path.name).symlink_to(path)
    for actor in ("Actor_01", "Actor_02"):
        (ravdess / actor).mkdir(parents=True)
        for path in sorted((data_root / "ravdess" / actor).iterdir()):
            (ravdess / actor / path.name).symlink_to(path)
    for folder in sorted((data_root / "tess").glob("*_*")):
        (tess / folder.name).mkdir(parents=True)
        for path in sorted(folder.iterdir())[:4]:
            (tess / folder.name / path.name).symlink_to(path)
    return {"EMODB": str(emodb), "RAVDESS": str(ravdess), "TESS": str(tess)}


@pytest.fixture(scope="module")
def loco_run(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("loco")
    (root / "egs2").mkdir()
    for shared in ("TEMPLATE", "iemocap_qieemo"):  # the recipe's links into them (scripts, configs)
        (root / "egs2" / shared).symlink_to(REPO / "egs2" / shared)
    work = root / "egs2" / "emodb_qieemo" / "emo1"
    shutil.copytree(RECIPE, work, symlinks=True, ignore=shutil.ignore_patterns("data*", "dump", "exp*", "pretrained"))
    (work / "pretrained").mkdir()  # the model card is rewritten: a copy; the zips: links
    for path in (RECIPE / "pretrained").iterdir():
        if path.suffix == ".zip":
            (work / "pretrained" / path.name).symlink_to(path)
    shutil.copy(RECIPE / "pretrained" / "README.md", work / "pretrained" / "README.md")
    env = {
        **os.environ,
        **small_corpora(data_root, root / "corpora"),
        "LIBRISPEECH": str(data_root / "librispeech_mini" / "LibriSpeech"),
    }
    cmd = [
        "./run.sh",
        "--stage",
        "6",
        "--stop_stage",
        "7",
        "--loco",
        "true",
        "--default_model",
        "true",
        "--loco_candidates",
        CANDIDATES,
        "--parallel",
        "1",
        "--nj",
        "1",
        "--emo_args",
        "--max_epoch 1 --batch_size 4 --num_workers 0 --model_conf freeze_encoder_steps=0",
    ]
    proc = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return work, proc.stdout


def test_loco_table_has_every_held_out_corpus_against_the_svm_and_its_calibration(loco_run):
    work, log = loco_run
    heldout = (work / "data_loco" / "corpora" / "heldout").read_text().split()
    assert heldout == ["fold1", "emodb", "fold2", "ravdess", "fold3", "tess"]
    table = (work / "RESULTS_loco.md").read_text()
    for corpus in ("emodb", "ravdess", "tess"):
        row = next(line for line in table.splitlines() if line.startswith(f"| {corpus} |") and "UA" not in line)
        ua, svm, gap = (float(v) for v in re.findall(r"[-+]?\d+\.\d+", row)[:3])  # aug, SVM, aug - SVM
        assert 0.0 <= ua <= 100.0 and 0.0 <= svm <= 100.0 and abs(gap - (ua - svm)) < 0.11
    assert "eGeMAPS + SVM UA" in table and "ECE before" in table and "| mean |" in table
    choice = (work / "exp" / "loco" / "choice").read_text().strip()
    assert choice == "aug" and f"**{choice}**" in table
    for fold in ("fold1", "fold2", "fold3"):
        calibration = yaml.safe_load((work / "exp" / "loco" / "emo_aug" / fold / "calibration.yaml").read_text())
        (evaluated,) = calibration["evaluated"]
        assert evaluated.endswith(f"dump/loco/{fold}/test") and calibration["temperature"] > 0
    # the training parts never hold a held-out corpus's speaker (checked by emo.sh stage 3 too)
    train = (work / "dump" / "loco" / "fold1" / "train" / "utt2spk").read_text()
    assert "emodb_" not in train and "ravdess_" in train and "tess_" in train
    assert f"default model: recipe {choice}" in log
    card = (work / "pretrained" / "README.md").read_text()
    assert card.count("<!-- loco-results:begin -->") == 1 and f"**{choice}**" in card


def test_default_model_is_trained_on_every_corpus_and_packed_calibrated(loco_run, data_root):
    work, _ = loco_run
    packed = work / "exp" / "pretrained" / "emo_qieemo_multicorpus4.zip"
    with zipfile.ZipFile(packed) as zf:
        assert "exp/emo/calibration.yaml" in yaml.safe_load(zf.read("meta.yaml"))["files"].values()
    train = (work / "dump" / "loco" / "all" / "train" / "utt2spk").read_text()
    assert all(f"{c}_" in train for c in ("emodb", "ravdess", "tess"))
    s2e = Speech2Emotion.from_pretrained(packed)
    assert s2e.labels == ["neu", "hap", "ang", "sad"] and s2e.temperature > 0
    (result,) = s2e([audio.load(data_root / "emodb" / "wav" / "10a01Wa.wav")])
    assert abs(sum(result.probs.values()) - 1.0) < 1e-4
