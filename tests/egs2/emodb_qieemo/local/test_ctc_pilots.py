"""CTC pilots (local/ctc_pilots.py) on real mini AN4 audio with the demo's backbone config:
the curve is written, the model learns, length limits hold, bad input is named."""

import json
from pathlib import Path

import numpy as np
import pytest
from emodb_local import ctc_pilots
from pyscripts.bpe import train_bpe

RECIPE = Path(__file__).resolve().parents[4] / "egs2" / "emodb_qieemo" / "emo1"
CONFIG = RECIPE / "conf" / "train_asr_efficient_conformer_so762.yaml"


@pytest.fixture
def files(tmp_path, an4_train_dir):
    data = an4_train_dir  # the first 24 utterances
    for name in ("wav.scp", "text"):
        lines = (data / name).read_text().splitlines(keepends=True)[:24]
        (data / name).write_text("".join(lines))
    train_bpe(data / "text", tmp_path / "tokens", 40, "char")
    stats = tmp_path / "feats_stats.npz"  # identity normalisation: mean 0, variance 1
    np.savez(stats, count=np.array(1.0), sum=np.zeros(80), sum_square=np.ones(80))
    return tmp_path, data, stats


def run(tmp_path: Path, data: Path, stats: Path, *extra: str) -> dict:
    out = tmp_path / "pilot.json"
    ctc_pilots.main(
        ["--config", str(CONFIG), "--stats", str(stats), "--token_dir", str(tmp_path / "tokens"),
         "--train", str(data), "--valid", str(data), "--out", str(out), "--batch_size", "8", *extra]
    )  # fmt: skip
    return json.loads(out.read_text())


def test_curve_is_written_and_the_model_learns(files):
    tmp_path, data, stats = files
    record = run(tmp_path, data, stats, "--num_train", "8", "--num_valid", "8", "--steps", "40",
                 "--eval_every", "20", "--warmup", "1")  # fmt: skip
    steps = [p["step"] for p in record["curve"]]
    losses = [p["train_ctc_per_token"] for p in record["curve"]]
    assert steps == [20, 40]
    assert losses[1] < losses[0]  # one batch of 8, seen 40 times: the loss must fall
    assert all(0.0 <= p["valid_cer"] for p in record["curve"])
    assert record["args"]["config"] == str(CONFIG)


def test_long_utterances_are_left_out(files):
    tmp_path, data, stats = files
    with pytest.raises(SystemExit, match="no utterance of 0.5 s or less"):
        run(tmp_path, data, stats, "--max_seconds", "0.5", "--steps", "1", "--eval_every", "1")
    assert not (tmp_path / "pilot.json").exists()


def test_missing_transcript_is_named(files):
    tmp_path, data, stats = files
    lines = (data / "text").read_text().splitlines()
    (data / "text").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(SystemExit, match=rf"{data / 'text'}: no transcript for {lines[0].split()[0]}"):
        run(tmp_path, data, stats, "--steps", "1", "--eval_every", "1")


def test_config_without_an_encoder_is_named(files, tmp_path):
    root, data, stats = files
    bad = tmp_path / "bad.yaml"
    bad.write_text("frontend_conf: {fs: 16k}\n")
    with pytest.raises(SystemExit, match=rf"{bad}: no 'encoder'"):
        ctc_pilots.main(["--config", str(bad), "--stats", str(stats), "--token_dir", str(root / "tokens"),
                         "--train", str(data), "--valid", str(data), "--out", str(root / "x.json")])  # fmt: skip
