"""The learning-curve table from a real ESPnet ASR run (the session's mini AN4 model)."""

import re

import pytest
from pyscripts import asr_curve, asr_pilots
from pyscripts.kaldi_dir import DataDirError


def test_curve_agrees_with_the_training_log(asr_exp, tmp_path):
    exp_dir = asr_exp("conformer", stock=True).dir
    lines = asr_curve.table(asr_curve.curve(exp_dir))
    logged = asr_pilots.valid_history(exp_dir.parent / "train.log")  # the trainer's log, a second source
    rows = {line.split(" | ")[0][2:]: line.strip("| ").split(" | ")[1:] for line in lines[2:]}
    assert lines[0] == "| epoch | " + " | ".join(str(e) for e in sorted(logged)) + " |"
    assert rows["valid CTC CER"] == [f"{100 * logged[e]['cer_ctc']:.1f} %" for e in sorted(logged)]
    updates = [int(u) for u in rows["updates"]]
    assert updates == sorted(updates) and updates[0] > 0  # cumulative over epochs
    assert all(re.fullmatch(r"\d+ min \d+ s", t) for t in rows["epoch wall time"])
    asr_curve.main([str(exp_dir), "--out", str(tmp_path / "curve.md")])
    assert (tmp_path / "curve.md").read_text().splitlines() == lines


def test_a_ctc_only_run_has_no_accuracy_row(asr_exp):
    exp_dir = asr_exp("conformer", stock=True).dir
    history = asr_curve.curve(exp_dir)
    for values in history["valid"].values():
        values["acc"] = float("nan")
    assert not any(line.startswith("| valid token acc.") for line in asr_curve.table(history))


def test_a_dir_without_a_finished_epoch_is_named(tmp_path):
    with pytest.raises(DataDirError, match=r"checkpoint.pth: not found; the run has not finished an epoch"):
        asr_curve.curve(tmp_path)
