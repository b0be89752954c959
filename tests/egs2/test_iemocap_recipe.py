"""egs2/iemocap_qieemo/emo1: ./run.sh stages 1-12 on CPU with the small configs, then its failure modes.

The corpora are IEMOCAP- and LibriSpeech-layout trees built from real audio (conftest.py). Two
folds keep the run inside the test budget; every stage of the shared emo.sh still runs.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import soundfile
from hostile_models import ESCAPE, meta_yaml, model_members, write_zip
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "iemocap_qieemo" / "emo1"
FOLDS = ("1", "2")
EMO_EXP = "exp/emo_train_emo_qieemo_small"
SMALL = [
    "--asr_config",
    "conf/train_asr_efficient_conformer_small.yaml",
    "--emo_config",
    "conf/train_emo_qieemo_small.yaml",
    "--nbpe",
    "30",
    "--nj",
    "1",
    "--folds",
    " ".join(FOLDS),
    "--asr_test_sets",
    "asr_test",
    "--local_asr_data_opts",
    "--train_subsets train-tiny --valid_subsets dev-tiny --test_subsets test-tiny",
    "--asr_args",
    "--max_epoch 1 --num_workers 0 --num_att_plot 0",
    "--emo_args",
    "--max_epoch 1 --num_workers 0 --num_att_plot 0",
    "--inference_args",
    "--beam_size 1 --maxlenratio 0.3",
]


def run_recipe(recipe: Path, env: Dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["./run.sh", *SMALL, *args],
        cwd=recipe,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def snapshot(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` (relative path -> content), to prove a failed run changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def copy_recipe(root: Path) -> Path:
    """A copy of the recipe under ``root`` (its TEMPLATE links resolve to this repo)."""
    (root / "egs2").mkdir(parents=True)
    (root / "egs2" / "TEMPLATE").symlink_to(REPO / "egs2" / "TEMPLATE")
    work = root / "egs2" / "iemocap_qieemo" / "emo1"
    shutil.copytree(RECIPE, work, symlinks=True, ignore=shutil.ignore_patterns("data", "dump", "exp"))
    return work


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, corpus_trees):
    """A copy of the recipe and a finished stage 1-12 run."""
    iemocap, libri = corpus_trees
    work = copy_recipe(tmp_path_factory.mktemp("recipe"))
    env = {"IEMOCAP": str(iemocap.root), "LIBRISPEECH": str(libri)}
    proc = run_recipe(work, env, "--stage", "1", "--stop_stage", "12")
    assert proc.returncode == 0, proc.stdout[-6000:]
    return work, env, iemocap, proc.stdout


def table(path: Path) -> Dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())


def test_stage1_keeps_four_classes_and_session_speakers(recipe):
    work, _, iemocap, log = recipe
    assert table(work / "data/iemocap/emotion") == iemocap.kept  # exc -> hap; fru, xxx dropped
    assert (work / "data/iemocap/labels").read_text().split() == ["neu", "hap", "ang", "sad"]
    assert set(table(work / "data/iemocap/utt2spk").values()) == {f"Ses0{k}{g}" for k in range(1, 6) for g in "FM"}
    # Not the full corpus: the per-session table is shown as a warning.
    assert "WARNING: IEMOCAP: 51 utterances" in log and re.search(r"Session1\s+3\s+4\s+2\s+2\s+11", log)


def test_stage3_formats_audio_and_excludes_too_short(recipe):
    work, _, iemocap, _ = recipe
    assert list(table(work / "dump/raw/iemocap/excluded")) == [iemocap.too_short]
    for utt, path in table(work / "dump/raw/iemocap/wav.scp").items():
        info = soundfile.info(path)
        assert (info.samplerate, info.channels) == (16000, 1), utt
        assert int(table(work / "dump/raw/iemocap/utt2num_samples")[utt]) == info.frames
    assert iemocap.too_short not in table(work / "dump/raw/fold1/test/emotion")
    # FSDD (8 kHz flac) is resampled into dump/; AN4 flac (16 kHz) is referenced in place.
    asr_wavs = table(work / "dump/raw/asr_train/wav.scp").values()
    assert any("/dump/raw/asr_train/data/" in p for p in asr_wavs) and any(p.endswith(".flac") for p in asr_wavs)


def test_folds_hold_out_one_session(recipe):
    work, _, _, _ = recipe
    for k in FOLDS:
        spk = {
            part: set(table(work / f"dump/raw/fold{k}/{part}/utt2spk").values()) for part in ("train", "valid", "test")
        }
        assert spk["test"] == {f"Ses0{k}F", f"Ses0{k}M"}
        assert not spk["test"] & (spk["train"] | spk["valid"])


def test_asr_decoding_is_scored(recipe):
    work, _, _, _ = recipe
    result = (
        work / "exp/asr_train_asr_efficient_conformer_small/decode_valid.acc.best/asr_test/result.txt"
    ).read_text()
    assert re.search(r"^WER: \d+\.\d\d %", result, re.M) and "utterances: 5" in result


def recomputed(work: Path, k: str) -> Dict[str, float]:
    """WA / UA / WF1 of fold k straight from the references and stage 10's outputs (sklearn)."""
    ref = table(work / f"dump/raw/fold{k}/test/emotion")
    out = work / f"{EMO_EXP}/fold{k}/inference_valid.ua.ave/test"
    hyp = table(out / "emotion")
    labels = (out / "labels").read_text().split()
    y_true = [ref[u] for u in ref]
    y_pred = [hyp.get(u, "<none>") for u in ref]
    return {
        "WA": 100 * accuracy_score(y_true, y_pred),
        "UA": 100 * balanced_accuracy_score(y_true, y_pred),
        "WF1": 100 * f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
    }


def test_results_md_agrees_with_inference_outputs(recipe):
    work, _, _, _ = recipe
    text = (work / EMO_EXP / "RESULTS.md").read_text()
    per_fold = {}
    for k in FOLDS:
        row = re.search(
            rf"^\| fold{k} \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", text, re.M
        )
        assert row, f"fold{k} row missing in RESULTS.md"
        assert int(row.group(3)) == len(table(work / f"dump/raw/fold{k}/test/emotion"))
        per_fold[k] = dict(zip(("WA", "UA", "WF1"), map(float, row.groups()[4:])))
        expected = recomputed(work, k)
        for metric, value in per_fold[k].items():
            assert value == pytest.approx(expected[metric], abs=0.006), (k, metric)
    mean = re.search(r"^\| mean \+- std \(2 folds\) \|.*$", text, re.M).group(0)
    for metric, (m, s) in zip(("WA", "UA", "WF1"), re.findall(r"([\d.]+) \+- ([\d.]+)", mean)):
        values = [per_fold[k][metric] for k in FOLDS]
        assert float(m) == pytest.approx(np.mean(values), abs=0.006)
        assert float(s) == pytest.approx(np.std(values), abs=0.006)
    assert "seed 0" in text and (work / EMO_EXP / "scores/confusion.png").stat().st_size > 0


def test_packed_model_reproduces_stage10(recipe):
    from espnet_qieemo.bin.emo_inference import Speech2Emotion

    work, _, _, _ = recipe
    k = FOLDS[0]
    model = Speech2Emotion.from_pretrained(work / f"{EMO_EXP}/packed/fold{k}.zip")
    out = work / f"{EMO_EXP}/fold{k}/inference_valid.ua.ave/test"
    wavs = table(work / f"dump/raw/fold{k}/test/wav.scp")
    scores = {u: np.array(v.split(), dtype=float) for u, v in table(out / "score").items()}
    utts = sorted(wavs)[:3]
    results = model([soundfile.read(wavs[u], dtype="float32")[0] for u in utts], fs=16000)
    for utt, result in zip(utts, results):
        assert result.label == table(out / "emotion")[utt]
        np.testing.assert_allclose([result.probs[c] for c in model.labels], scores[utt], atol=1e-4)


def test_existing_espnet_asr_exp_drives_the_emotion_stages(recipe, asr_exp):
    """--asr_exp: a conformer trained by ESPnet's own asr_train runs stages 8-12 of a fold.

    The encoder stays frozen for the whole (short) run, so the trained emotion model must
    carry exactly the checkpoint's encoder weights: proof that the recipe loaded it.
    """
    import torch

    work, env, _, _ = recipe
    stock = asr_exp("conformer", stock=True)
    emo_args = "--max_epoch 1 --num_workers 0 --num_att_plot 0 --model_conf freeze_encoder_steps=100000"
    proc = run_recipe(
        work,
        env,
        "--stage",
        "8",
        "--stop_stage",
        "12",
        "--folds",
        "1",
        "--expdir",
        "exp_stock",
        "--asr_exp",
        str(stock.dir),
        "--emo_config",
        "conf/train_emo_qieemo_conformer_small.yaml",
        "--emo_args",
        emo_args,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    exp = work / "exp_stock" / "emo_train_emo_qieemo_conformer_small"
    assert re.search(r"^\| fold1 \|", (exp / "RESULTS.md").read_text(), re.M)
    assert (exp / "packed" / "fold1.zip").is_file()
    asr = torch.load(stock.model_file, map_location="cpu")
    emo = torch.load(exp / "fold1" / "valid.ua.best.pth", map_location="cpu")
    encoder_keys = [k for k in asr if k.startswith("encoder.")]
    assert encoder_keys and all(torch.equal(emo[k], asr[k]) for k in encoder_keys)


def test_missing_corpus_stops_stage1_and_keeps_previous_data(recipe, tmp_path):
    work, env, _, _ = recipe
    before = snapshot(work / "data")
    proc = run_recipe(
        work, {**env, "IEMOCAP": str(tmp_path / "IEMOCAP_ful_release")}, "--stage", "1", "--stop_stage", "1"
    )
    assert proc.returncode != 0
    assert f"IEMOCAP={tmp_path / 'IEMOCAP_ful_release'}: no such directory" in proc.stdout
    assert "Session1, Session2, Session3, Session4, Session5" in proc.stdout
    assert snapshot(work / "data") == before


def test_mistyped_subset_stops_stage2_and_keeps_previous_sets(recipe):
    work, env, _, _ = recipe
    before = snapshot(work / "data")
    proc = run_recipe(
        work,
        env,
        "--stage",
        "2",
        "--stop_stage",
        "2",
        "--local_asr_data_opts",
        "--train_subsets train-tny --valid_subsets dev-tiny --test_subsets test-tiny",
    )
    assert proc.returncode != 0
    assert "subset folder 'train-tny' not found" in proc.stdout and "train-tiny" in proc.stdout
    assert snapshot(work / "data") == before


def test_unknown_option_is_rejected(recipe):
    work, env, _, _ = recipe
    proc = run_recipe(work, env, "--stop_stag", "3")
    assert proc.returncode != 0 and "unknown option --stop_stag" in proc.stdout


def test_leaked_test_speaker_stops_stage3_and_keeps_previous_fold(recipe):
    work, env, _, _ = recipe
    before = snapshot(work / "dump/raw/fold1")
    train = work / "data/fold1/train/emotion"
    original = train.read_text()
    leaked = next(u for u in table(work / "data/fold1/test/utt2spk") if u.endswith("_F000"))
    train.write_text(original + f"{leaked} neu\n")  # a Session1 (test) utterance in train
    try:
        proc = run_recipe(work, env, "--stage", "3", "--stop_stage", "3", "--folds", "1")
    finally:
        train.write_text(original)
    assert proc.returncode != 0
    assert "ERROR: fold integrity:" in proc.stdout and "test speaker(s) ['Ses01F'] also in train" in proc.stdout
    assert snapshot(work / "dump/raw/fold1") == before


def killed_and_rerun(work: Path, env: Dict[str, str], tmp_path: Path, expdir: str, watch: Path, args):
    """Copy exp/ to <expdir>, run ``args`` there, SIGKILL the whole run.sh process group in the
    middle of epoch 2 of the training that writes ``watch``, then run the same command again."""
    from resume_helpers import run_and_kill

    shutil.copytree(work / "exp", work / expdir, symlinks=True)
    cmd = ["./run.sh", *SMALL, "--expdir", expdir, *args]
    marker = "2epoch:train:1-1batch"  # (--log_interval 1) epoch 2 has made its first step
    run_and_kill(cmd, tmp_path / "killed.log", watch=watch, marker=marker, cwd=work, env=env, settle=0)
    after_kill = {
        "stats": epoch_stats(watch.parent),
        "old": snapshot(watch.parent.with_name(watch.parent.name + ".old")),
    }
    proc = subprocess.run(
        cmd, cwd=work, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
    return after_kill


def epoch_stats(exp: Path) -> Dict[int, dict]:
    import torch

    return torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["stats"]


def check_resumed(exp: Path, after_kill: dict, finished_before: Dict[str, bytes]) -> None:
    """The killed run had finished epoch 1 only; the earlier finished model was kept aside until
    the re-run, which resumed (epoch 1 not redone) and completed both epochs."""
    assert sorted(after_kill["stats"]) == [1], "killed too late: epoch 2 had finished"
    assert after_kill["old"] == finished_before  # the earlier successful run, untouched while resuming
    log = (exp / "train.log").read_text()
    assert "The training was resumed using" in log
    assert "1/2epoch started" not in log and "2/2epoch started" in log
    stats = epoch_stats(exp)
    assert sorted(stats) == [1, 2] and stats[1] == after_kill["stats"][1]
    assert (exp / ".done").is_file() and not exp.with_name(exp.name + ".old").exists()


def test_killed_stage9_resumes_on_rerun(recipe, tmp_path, monkeypatch):
    from espnet_qieemo.tasks.emotion import EmotionTask

    work, env, _, _ = recipe
    fold = work / "exp_kill9" / EMO_EXP.split("/", 1)[1] / "fold1"
    earlier = snapshot(work / "exp" / "emo_stats")
    finished = snapshot(work / EMO_EXP / "fold1")
    emo_args = "--max_epoch 2 --num_workers 0 --num_att_plot 0 --log_interval 1"
    args = ["--stage", "9", "--stop_stage", "9", "--folds", "1", "--emo_args", emo_args]
    after_kill = killed_and_rerun(work, env, tmp_path, "exp_kill9", fold / "train.log", args)
    check_resumed(fold, after_kill, finished)
    assert snapshot(work / "exp_kill9" / "emo_stats") == earlier  # stage 8's output kept
    for name in ("config.yaml", "valid.ua.best.pth", "valid.ua.ave.pth", "2epoch.pth"):
        assert (fold / name).is_file(), name
    monkeypatch.chdir(work)  # config.yaml names its files relative to the recipe dir
    model, _ = EmotionTask.build_model_from_file(fold / "config.yaml", fold / "valid.ua.ave.pth", "cpu")
    assert model.labels == ["neu", "hap", "ang", "sad"]


def test_killed_stage6_resumes_on_rerun(recipe, tmp_path, monkeypatch):
    from espnet2.tasks.asr import ASRTask

    work, env, _, _ = recipe
    asr = work / "exp_kill6" / "asr_train_asr_efficient_conformer_small"
    earlier = snapshot(work / "exp" / "asr_stats_unigram30")
    finished = snapshot(work / "exp" / "asr_train_asr_efficient_conformer_small")
    asr_args = "--max_epoch 2 --num_workers 0 --num_att_plot 0 --log_interval 1"
    args = ["--stage", "6", "--stop_stage", "6", "--asr_args", asr_args]
    after_kill = killed_and_rerun(work, env, tmp_path, "exp_kill6", asr / "train.log", args)
    check_resumed(asr, after_kill, finished)
    assert snapshot(work / "exp_kill6" / "asr_stats_unigram30") == earlier  # stage 5's output kept
    monkeypatch.chdir(work)
    model, _ = ASRTask.build_model_from_file(asr / "config.yaml", asr / "valid.acc.best.pth", "cpu")
    assert type(model.encoder).__name__ == "EfficientConformerEncoder"


def test_hostile_asr_exp_is_refused_before_any_stage(tmp_path):
    """--asr_exp is checked as emo_train will unpack it, before stage 1 writes anything."""
    work = copy_recipe(tmp_path / "copy")
    evil = write_zip(tmp_path / "evil.zip", {**model_members(), "meta.yaml": meta_yaml(ESCAPE), ESCAPE: b"a: 1"})
    before = snapshot(tmp_path)
    proc = run_recipe(work, {}, "--asr_exp", str(evil))
    assert proc.returncode != 0
    assert f"unsafe archive, refused before writing anything: member '{ESCAPE}' contains '..'" in proc.stdout
    assert f"--asr_exp {evil}: refused (the reason is above)" in proc.stdout
    assert snapshot(tmp_path) == before
