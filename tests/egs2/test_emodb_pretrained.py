"""The packed models shipped in egs2/emodb_qieemo/emo1/pretrained/: ESPnet loads them, they work.

- both ASR backbones unpack and decode through ESPnet's own code (``unpack`` + ``Speech2Text``
  with the recipe's CTC decoding config, the plugin imported for ``encoder: efficient_conformer``)
  and recognise a held-out speechocean762 speaker: CER well under the 80 % of the backbones
  that never left the CTC plateau;
- an emotion model initialised from a zip carries exactly the zip's encoder weights;
- the default emotion model is what ``qieemo predict`` uses when no model is given.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "egs2" / "emodb_qieemo" / "emo1"
PRETRAINED = RECIPE / "pretrained"
BACKBONES = ("asr_efficient_conformer_so762.zip", "asr_conformer_so762.zip")
DEFAULT_MODEL = PRETRAINED / "emo_qieemo_multicorpus4.zip"
MB = 1024 * 1024


def held_out_utterances(data_root: Path, count: int) -> List[Tuple[Path, str]]:
    """(audio, transcript) of speechocean762 test/ speakers in neither ASR train nor valid."""
    from pyscripts.speechocean762 import read_part, split_speakers

    _, test = split_speakers(read_part(data_root / "speechocean762", "test"), valid_every=5)
    return [(Path(test["wav.scp"][u]), test["text"][u]) for u in sorted(test["wav.scp"])[:count]]


def test_only_small_packed_models_are_committed():
    files = sorted(p for p in PRETRAINED.iterdir() if p.suffix == ".zip")
    assert [p.name for p in files] == sorted([*BACKBONES, DEFAULT_MODEL.name])
    assert all(p.stat().st_size <= 20 * MB for p in files)
    assert sum(p.stat().st_size for p in files) <= 60 * MB


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_loads_through_espnet_and_recognises_a_held_out_speaker(name, data_root, tmp_path):
    import yaml
    from espnet2.bin.asr_inference import Speech2Text
    from espnet2.main_funcs.pack_funcs import unpack
    from pyscripts.asr_wer import error_counts

    import espnet_qieemo  # noqa: F401  (the plugin: registers encoder efficient_conformer)
    from espnet_qieemo.utils import audio

    files = unpack(PRETRAINED / name, tmp_path)
    decoding = yaml.safe_load((RECIPE / "conf" / "decode_asr_ctc.yaml").read_text())
    s2t = Speech2Text(
        asr_train_config=files["asr_train_config"], asr_model_file=files["asr_model_file"], device="cpu", **decoding
    )
    assert s2t.asr_model.decoder is None, "the shipped backbones are CTC only"
    ref, hyp = {}, {}
    for i, (wav, text) in enumerate(held_out_utterances(data_root, 8)):
        ref[str(i)], hyp[str(i)] = text, s2t(torch.from_numpy(audio.load(wav)))[0][0]
    errors, length = error_counts(ref, hyp, "char")
    assert errors / length < 0.6, f"CER {errors / length:.1%} on 8 held-out utterances: {hyp}"


def test_emotion_model_from_the_zip_has_its_encoder_weights(tmp_path):
    from espnet2.main_funcs.pack_funcs import unpack

    from espnet_qieemo.tasks.emotion import EmotionTask

    zip_path = PRETRAINED / BACKBONES[0]
    argv = [
        "--labels",
        "neu",
        "hap",
        "ang",
        "sad",
        "--asr_init",
        str(zip_path),
        "--output_dir",
        str(tmp_path / "exp"),
        "--config",
        str(REPO / "egs2" / "iemocap_qieemo" / "emo1" / "conf" / "train_emo_qieemo_small.yaml"),
    ]
    model = EmotionTask.build_model(EmotionTask.get_parser().parse_args(argv))
    asr = torch.load(unpack(zip_path, tmp_path / "asr")["asr_model_file"], map_location="cpu")
    encoder = {k: v for k, v in asr.items() if k.startswith("encoder.")}
    state = model.state_dict()
    assert encoder and all(torch.equal(state[k], v) for k, v in encoder.items())


def test_default_model_is_used_when_no_model_is_given(data_root, tmp_path):
    wav = data_root / "emodb" / "wav" / "03a01Wa.wav"
    env = {k: v for k, v in os.environ.items() if k != "QIEEMO_MODEL"}
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_qieemo.bin.qieemo_cli", "predict", str(wav)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [record] = [json.loads(line) for line in proc.stdout.splitlines()]  # stdout holds records only
    assert record["file"] == str(wav)
    assert record["label"] in {"neu", "hap", "ang", "sad"}
    assert abs(sum(record["probs"].values()) - 1.0) < 1e-4


def test_missing_default_model_says_how_to_give_one(tmp_path):
    env = dict(os.environ, QIEEMO_MODEL=str(tmp_path / "none.zip"))
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_qieemo.bin.qieemo_cli", "predict", str(tmp_path / "a.wav")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode != 0
    assert f"$QIEEMO_MODEL {tmp_path / 'none.zip'} not found; give a packed model with --model" in proc.stderr
