"""The demo's backbone recipes (conf/train_asr_*_so762.yaml) as ESPnet runs them.

``run.sh --train_asr true`` trains both configs with ESPnet's trainer, keeps the epochs with the
lowest validation CTC CER and decodes with conf/decode_asr_ctc.yaml. One epoch on mini AN4 per
config checks each piece of that: the models are CTC only (no attention decoder is built), the
efficient conformer ends at the conformer's frame rate (25 frames/s, which character CTC needs),
the checkpoint named by the criterion is written, and ESPnet's Speech2Text decodes with the
decoding config.
"""

from pathlib import Path

import pytest
import torch
import yaml

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "emodb_qieemo" / "emo1"
CONFIGS = {
    "efficient_conformer": RECIPE / "conf" / "train_asr_efficient_conformer_so762.yaml",
    "conformer": RECIPE / "conf" / "train_asr_conformer_so762.yaml",
}
ONE_EPOCH = ("--max_epoch", "1", "--batch_size", "4")


@pytest.fixture(params=sorted(CONFIGS))
def trained(request, asr_exp, data_root):
    exp = asr_exp(request.param, config=CONFIGS[request.param], extra=ONE_EPOCH, model_file="valid.cer_ctc.best.pth")
    return request.param, exp, data_root


def test_ctc_only_model_at_25_frames_per_second(trained):
    from espnet2.tasks.asr import ASRTask

    import espnet_qieemo  # noqa: F401  (registers encoder efficient_conformer)

    _, exp, _ = trained
    model, _ = ASRTask.build_model_from_file(exp.config, exp.model_file, "cpu")
    assert model.ctc_weight == 1.0 and model.decoder is None
    feats = torch.randn(1, 400, 80)  # 4 s of fbank frames at 100 frames/s
    with torch.no_grad():
        _, out_lens, _ = model.encoder(feats, torch.tensor([400]))
    assert out_lens.item() == 99  # 4 s at 25 frames/s (ESPnet's conv2d edge frames dropped)


def test_decodes_with_the_recipes_ctc_decoding_config(trained):
    from espnet2.bin.asr_inference import Speech2Text

    import espnet_qieemo  # noqa: F401
    from espnet_qieemo.utils import audio

    _, exp, data_root = trained
    decode = yaml.safe_load((RECIPE / "conf" / "decode_asr_ctc.yaml").read_text())
    s2t = Speech2Text(asr_train_config=exp.config, asr_model_file=exp.model_file, device="cpu", **decode)
    wav = sorted((data_root / "mini_an4" / "an4" / "wav" / "an4test_clstk").rglob("*.sph"))[0]
    hyps = s2t(torch.from_numpy(audio.load(wav)))
    assert len(hyps) == 1 and isinstance(hyps[0][0], str)


def test_scratch_ablation_has_backbone_1s_encoder():
    """The demo's "without ASR pretraining" row differs from the full model only by the weights."""
    dropouts = {"dropout_rate", "positional_dropout_rate", "attention_dropout_rate"}
    scratch = yaml.safe_load((RECIPE / "conf" / "train_emo_qieemo_scratch_so762.yaml").read_text())
    backbone = yaml.safe_load(CONFIGS["efficient_conformer"].read_text())
    assert scratch["encoder"] == backbone["encoder"]
    for conf in (scratch["encoder_conf"], backbone["encoder_conf"]):
        for key in dropouts:
            conf.pop(key, None)
    assert scratch["encoder_conf"] == backbone["encoder_conf"]
