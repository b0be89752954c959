"""Fast loading of a finished model: the same model as ESPnet's path, without ESPnet's task imports."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from espnet_qieemo.tasks import emotion_builder
from espnet_qieemo.tasks.emotion import EmotionTask, registry_lookup
from espnet_qieemo.tasks.emotion_builder import BACKBONE_MODULES, fast_lookup, load_emotion_model
from espnet_qieemo.utils.safe_unpack import unpack

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "egs2" / "emodb_qieemo" / "emo1" / "pretrained" / "emo_qieemo_multicorpus4.zip"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    files = unpack(SHIPPED, tmp_path_factory.mktemp("shipped"))
    return files["train_config"], files["model_file"]


@pytest.mark.parametrize("group,name", [(g, n) for g, names in BACKBONE_MODULES.items() for n in names])
def test_fast_table_names_the_classes_espnet_registers(group, name):
    assert fast_lookup(group, name) is registry_lookup(group, name)


def test_fast_load_equals_espnet_load(shipped, data_root):
    from espnet_qieemo.utils import audio

    fast, _ = load_emotion_model(*shipped)
    slow, _ = EmotionTask.build_model_from_file(*shipped)
    assert type(fast.encoder) is type(slow.encoder)
    slow_state = slow.state_dict()
    assert fast.state_dict().keys() == slow_state.keys()
    for key, value in fast.state_dict().items():
        assert torch.equal(value, slow_state[key]), key
    wave = torch.from_numpy(audio.load(data_root / "emodb" / "wav" / "03a01Fa.wav")).float()[None]
    lens = torch.tensor([wave.size(1)])
    with torch.no_grad():
        torch.testing.assert_close(fast.eval().classify(wave, lens), slow.eval().classify(wave, lens))


def test_fast_load_imports_no_espnet_task(shipped):
    code = (
        "import sys; from espnet_qieemo.tasks.emotion_builder import load_emotion_model; "
        f"load_emotion_model({str(shipped[0])!r}, {str(shipped[1])!r}); "
        "print(sorted(m for m in sys.modules if m.startswith('espnet2.tasks') or m == 'espnet2.train.trainer'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_backbone_outside_the_fast_table_loads_through_espnet_without_its_unpickling(shipped, monkeypatch):
    monkeypatch.setitem(BACKBONE_MODULES, "encoder", {})
    calls = []
    real = EmotionTask.build_model_from_file.__func__

    def spy(cls, *args, **kwargs):
        calls.append(args)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(EmotionTask, "build_model_from_file", classmethod(spy))
    model, _ = emotion_builder.load_emotion_model(*shipped)
    assert len(calls) == 1 and model.labels == ["neu", "hap", "ang", "sad"]
    assert calls[0][1] is None  # the model file never reaches ESPnet's torch.load(weights_only=False)
    want = torch.load(shipped[1], weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in want.items())
