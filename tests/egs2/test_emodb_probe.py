"""Per-block linear probe: masked pooling per block, and the whole CLI on a tiny EmoDB fold.

The ASR model is the small efficient conformer config with random weights (built and saved the
way ESPnet's trainer does), so the test needs no pretraining and still runs the real encoder.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from emodb_helpers import write_part
from emodb_local import layer_probe

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.utils import audio

REPO = Path(__file__).resolve().parents[2]
ASR_CONFIG = REPO / "egs2" / "emodb_qieemo" / "emo1" / "conf" / "train_asr_efficient_conformer_small.yaml"


@pytest.fixture(scope="module")
def random_asr(tmp_path_factory):
    """(config.yaml, model.pth) of an untrained small ASR model."""
    with no_nltk_downloads():
        from espnet2.tasks.asr import ASRTask
    out = tmp_path_factory.mktemp("asr_random")
    tokens = ["<blank>", "<unk>", "<space>", "A", "B", "<sos/eos>"]
    (out / "tokens.txt").write_text("\n".join(tokens) + "\n")
    args = ASRTask.get_parser().parse_args(
        [
            "--config",
            str(ASR_CONFIG),
            "--token_list",
            str(out / "tokens.txt"),
            "--token_type",
            "char",
            "--output_dir",
            str(out),
        ]
    )
    torch.manual_seed(0)
    torch.save(ASRTask.build_model(args).state_dict(), out / "model.pth")
    with open(out / "config.yaml", "w") as f:
        yaml.safe_dump({**vars(args), "token_list": tokens}, f)
    return out / "config.yaml", out / "model.pth"


def test_pooling_ignores_padding(random_asr, data_root):
    model = layer_probe.load_asr(*random_asr)
    short = audio.load(data_root / "emodb" / "wav" / "03a01Fa.wav")[:12000]
    long = audio.load(data_root / "emodb" / "wav" / "03a01Wa.wav")
    alone = layer_probe.pooled_blocks(model, [short])
    batched = layer_probe.pooled_blocks(model, [short, long])
    n_blocks = len(model.encoder.encoders)
    assert alone.shape == (1, n_blocks, model.encoder.output_size())
    # Padding changes the edge frames a little (STFT, convolutions), but pooling over the padded
    # frames as well would shrink the short utterance's means by its length ratio (0.375).
    np.testing.assert_allclose(batched[0], alone[0], atol=0.05)
    assert np.abs(alone[0]).max() > 0.5
    assert not np.allclose(batched[1], batched[0], atol=1e-3)


def test_probe_cli_writes_every_block_and_fold(random_asr, tmp_path, data_root):
    wav_dir = data_root / "emodb" / "wav"
    folds = []
    for k, (test_spk, valid_spk, train_spk) in enumerate(
        ((("03",), ("12",), ("10", "09")), (("10",), ("12",), ("03", "08"))), 1
    ):
        fold = tmp_path / f"fold{k}"
        for part, speakers, n in (("train", train_spk, 3), ("valid", valid_spk, 1), ("test", test_spk, 2)):
            write_part(wav_dir, fold / part, speakers, n)
        folds += ["--fold", str(fold)]
    labels = tmp_path / "labels"
    labels.write_text("ang\nsad\n")
    config, model_file = random_asr
    out = tmp_path / "probe"
    layer_probe.main(
        [
            "--asr_config",
            str(config),
            "--asr_model_file",
            str(model_file),
            "--labels",
            str(labels),
            *folds,
            "--out_dir",
            str(out),
            "--epochs",
            "20",
        ]
    )

    result = json.loads((out / "probe.json").read_text())
    n_blocks = yaml.safe_load(config.read_text())["encoder_conf"]["num_blocks"]
    assert [b["block"] for b in result["blocks"]] == list(range(1, n_blocks + 1))
    for block in result["blocks"]:
        assert len(block["folds"]) == 2
        for metrics in block["folds"]:
            assert set(metrics) == {"WA", "UA", "WF1"} and all(0 <= v <= 100 for v in metrics.values())
            # 4 test utterances per fold: every accuracy is a multiple of 25 %.
            assert metrics["WA"] % 25 == pytest.approx(0)
    rows = (out / "probe.tsv").read_text().splitlines()
    assert len(rows) == n_blocks + 1 and (out / "probe.png").stat().st_size > 0


def test_missing_checkpoint_is_named(tmp_path, random_asr):
    labels = tmp_path / "labels"
    labels.write_text("ang\nsad\n")
    with pytest.raises(SystemExit, match="nope.pth"):
        layer_probe.main(
            [
                "--asr_config",
                str(random_asr[0]),
                "--asr_model_file",
                str(tmp_path / "nope.pth"),
                "--labels",
                str(labels),
                "--fold",
                str(tmp_path),
                "--out_dir",
                str(tmp_path / "out"),
            ]
        )
