"""ESPnet's ASR trainer with the plugin: train the small efficient conformer, then decode.

Training runs once per test session in the shared ``asr_exp`` fixture (tests/conftest.py):
``python -m espnet_qieemo.bin.asr_train`` on mini AN4 (real speech), CTC + attention.
"""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch
import yaml

import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer)
from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.asr.encoder.efficient_conformer_encoder import (
    EfficientConformerEncoder,
)

with no_nltk_downloads():
    from espnet2.bin.asr_inference import Speech2Text


@pytest.fixture(scope="module")
def exp(asr_exp):
    return asr_exp("efficient_conformer")


def test_training_wrote_checkpoint_with_ctc_and_attention(exp):
    config = yaml.safe_load(exp.config.read_text())
    assert config["encoder"] == "efficient_conformer"
    assert 0.0 < config["model_conf"]["ctc_weight"] < 1.0
    assert exp.model_file.is_file()
    # the trainer's own record of what it did, saved for resuming
    reporter = torch.load(exp.dir / "checkpoint.pth", weights_only=False)["reporter"]
    assert reporter["epoch"] == config["max_epoch"] >= 2
    for epoch, stats in reporter["stats"].items():
        for split in ("train", "valid"):
            losses = [stats[split][k] for k in ("loss_ctc", "loss_att")]
            assert all(math.isfinite(v) for v in losses), (epoch, split, losses)


def test_speech2text_decodes_a_real_file(exp, data_root):
    speech2text = Speech2Text(
        asr_train_config=exp.config,
        asr_model_file=exp.model_file,
        beam_size=2,
        ctc_weight=0.3,
        maxlenratio=0.3,
        device="cpu",
    )
    assert isinstance(speech2text.asr_model.encoder, EfficientConformerEncoder)
    wav = data_root / "mini_an4/an4/wav/an4test_clstk/fcaw/cen8-fcaw-b.sph"
    speech, rate = soundfile.read(wav, dtype="float32")
    assert rate == 16000
    results = speech2text(speech)
    assert results, "no hypothesis"
    text, tokens, token_ids, _ = results[0]
    assert isinstance(text, str) and isinstance(tokens, list)


def test_inference_cli_loads_checkpoint_in_fresh_process(exp, data_root, tmp_path):
    """``python -m espnet_qieemo.bin.asr_inference`` decodes both AN4 test files."""
    test_dir = data_root / "mini_an4/an4/wav/an4test_clstk"
    wavs = sorted(test_dir.glob("*/*.sph"))
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"{w.stem} {w}\n" for w in wavs))
    out = tmp_path / "decode"
    cmd = [
        sys.executable, "-m", "espnet_qieemo.bin.asr_inference",
        "--asr_train_config", str(exp.config), "--asr_model_file", str(exp.model_file),
        "--data_path_and_name_and_type", f"{scp},speech,sound",
        "--output_dir", str(out), "--beam_size", "2", "--maxlenratio", "0.3",
        "--ngpu", "0",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = Path(out / "1best_recog" / "text").read_text().splitlines()
    assert sorted(line.split(maxsplit=1)[0] for line in lines) == [w.stem for w in wavs]
