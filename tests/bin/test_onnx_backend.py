"""`qieemo export` -> ONNX Runtime: the numpy frontend, parity with PyTorch, padding, int8,
the torch-free CLI path and the timeline plot, on the shipped default model and real EmoDB audio."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from espnet_qieemo.bin import qieemo_cli
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils import audio

ort = pytest.importorskip("onnxruntime")
from espnet_qieemo.ort_backend import OnnxSpeech2Emotion  # noqa: E402

MODEL = qieemo_cli.SHIPPED_MODEL
MAX_SECONDS = 4  # buckets of 1, 1.5, 2.25, 3.375 and 4 s: the cuts below reach every one


@pytest.fixture(scope="module")
def s2e():
    return Speech2Emotion.from_pretrained(MODEL)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """fp32 and int8 exports through the CLI."""
    out = tmp_path_factory.mktemp("onnx")
    paths = {}
    for quant in (None, "int8"):
        path = out / f"emo_{quant or 'fp32'}.onnx"
        extra = ["--quantize", quant] if quant else []
        with pytest.raises(SystemExit) as status:
            qieemo_cli.main(["export", "--model", str(MODEL), str(path), "--max-seconds", str(MAX_SECONDS), *extra])
        assert status.value.code == 0
        paths[quant or "fp32"] = path
    return paths


@pytest.fixture(scope="module")
def waves(data_root):
    """Real speech (consecutive EmoDB utterances, 2 s each) cut to lengths in every bucket."""
    files = sorted((data_root / "emodb" / "wav").glob("1[0-6]*.wav"))[:12]
    speech = np.concatenate([audio.load(f) for f in files])
    cuts = [0.3, 1.0, 1.4, 2.0, 3.0, 4.0]  # buckets 1, 1, 1.5, 2.25, 3.375, 4 s
    starts = np.cumsum([0] + cuts)[:-1]
    return [speech[int(s * 16000) : int((s + c) * 16000)] for s, c in zip(starts, cuts)]


def _probs(result, labels):
    return np.array([result.probs[c] for c in labels])


@pytest.mark.parametrize("fs", [8000, 22050, 44100, 48000])
def test_numpy_resampler_equals_torchaudio(data_root, fs):
    import torch
    import torchaudio

    from espnet_qieemo.utils.resample_np import resample

    wave = audio.load(sorted((data_root / "emodb" / "wav").glob("03*.wav"))[0], fs)
    ref = torchaudio.functional.resample(torch.from_numpy(wave), fs, 16000).numpy()
    ours = resample(wave, fs, 16000)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=5e-5, rtol=0)


def test_numpy_frontend_equals_espnet(s2e, exported, waves):
    from espnet_qieemo.bin.emo_export import features

    onnx_s2e = OnnxSpeech2Emotion(exported["fp32"])
    for wave in waves:
        ref = features(s2e, wave)[0].numpy()
        ours = onnx_s2e.frontend(wave)
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=5e-5)  # float64 here, float32 in torch


def test_fp32_onnx_equals_pytorch_and_padding_changes_nothing(s2e, exported, waves):
    onnx_s2e = OnnxSpeech2Emotion(exported["fp32"], batch_size=len(waves))
    assert onnx_s2e.labels == s2e.labels and onnx_s2e.fs == s2e.fs and onnx_s2e.min_samples == s2e.min_samples
    torch_one = np.stack([_probs(s2e(w), s2e.labels) for w in waves])
    onnx_batch = np.stack([_probs(r, s2e.labels) for r in onnx_s2e(waves)])  # padded to the 4 s bucket
    onnx_one = np.stack([_probs(onnx_s2e(w), s2e.labels) for w in waves])  # each in its own bucket
    np.testing.assert_allclose(onnx_batch, torch_one, atol=1e-4, rtol=0)
    np.testing.assert_allclose(onnx_one, onnx_batch, atol=1e-4, rtol=0)
    assert len({int(p.argmax()) for p in torch_one}) > 1 or torch_one.max() < 0.99  # not a constant output


def test_export_stays_exact_where_pytorch_runs_in_chunks(s2e, waves, tmp_path, monkeypatch):
    """Long inputs run attention and the frontend in chunks (``utils.chunking``). Traced chunk
    boundaries would be frozen into a bucket's graph and be wrong for shorter inputs padded into
    it, as a 20 s input in the 64 s bucket once was. A tiny score budget makes these 4 s clips
    chunk as 60 s ones do, without the cost of a 64 s bucket in the suite."""
    from espnet_qieemo.bin.emo_export import export_onnx
    from espnet_qieemo.utils import chunking

    monkeypatch.setattr(chunking, "SCORE_BUDGET", 1 << 10)
    onnx_s2e = OnnxSpeech2Emotion(export_onnx(s2e, tmp_path / "one_bucket.onnx", buckets=[MAX_SECONDS]))
    torch_one = np.stack([_probs(s2e(w), s2e.labels) for w in waves])  # in chunks
    onnx_padded = np.stack([_probs(r, s2e.labels) for r in onnx_s2e(waves)])  # all padded to 4 s
    np.testing.assert_allclose(onnx_padded, torch_one, atol=1e-4, rtol=0)


def test_onnx_refuses_inputs_outside_its_range(exported, waves):
    onnx_s2e = OnnxSpeech2Emotion(exported["fp32"])
    with pytest.raises(ValueError, match="longer than the 4 s"):
        onnx_s2e(np.concatenate(waves))  # 11.7 s
    with pytest.raises(audio.AudioError, match="too short"):
        onnx_s2e(waves[0][: onnx_s2e.min_samples - 1])
    with pytest.raises(ValueError, match="not an .onnx"):
        OnnxSpeech2Emotion(MODEL)


def _op_types(path):
    import onnx

    types = set()

    def walk(graph):
        for node in graph.node:
            types.add(node.op_type)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(onnx.load(str(path)).graph)
    return types


def test_int8_agrees_with_pytorch(s2e, exported, waves):
    int8 = OnnxSpeech2Emotion(exported["int8"])
    assert _op_types(exported["int8"]) >= {"DynamicQuantizeLinear", "MatMulInteger"}
    assert "MatMulInteger" not in _op_types(exported["fp32"])
    ref = np.stack([_probs(s2e(w), s2e.labels) for w in waves])
    got = np.stack([_probs(int8(w), s2e.labels) for w in waves])
    assert (ref.argmax(1) == got.argmax(1)).mean() >= 5 / 6
    assert np.abs(ref - got).max() < 0.15
    assert np.abs(ref - got).max() > 1e-6  # really quantized


def _run_cli_without_torch(args, cwd):
    """Run `qieemo` in a fresh interpreter; report its exit code and any torch / ESPnet module loaded."""
    code = (
        "import json, sys\n"
        "from espnet_qieemo.bin import qieemo_cli\n"
        "try:\n"
        f"    qieemo_cli.main({args!r})\n"
        "except SystemExit as e:\n"
        "    status = e.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'espnet', 'espnet2', 'torchaudio'))\n"
        "sys.stderr.write('\\nREPORT ' + json.dumps({'status': status, 'heavy': heavy}) + '\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=dict(os.environ))
    report = json.loads(proc.stderr.rsplit("REPORT ", 1)[1])
    report["heavy"] = report["heavy"][:5]
    return proc.stdout, proc.stderr, report


def test_cli_onnx_backend_never_imports_torch(s2e, exported, data_root, tmp_path):
    import soundfile

    files = sorted((data_root / "emodb" / "wav").glob("1[0-6]*.wav"))[:3]
    digit = sorted((data_root / "fsdd" / "recordings").glob("*.wav"))[0]  # 8 kHz: resampled in numpy
    files.append(digit)
    stdout, stderr, report = _run_cli_without_torch(
        ["predict", "--model", str(exported["fp32"]), "--backend", "onnx", *map(str, files)], tmp_path
    )
    assert report["heavy"] == [] and report["status"] in (0, 1), stderr
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [r["file"] for r in rows] == list(map(str, files))
    for f, row in zip(files, rows):
        wave = audio.load(f)
        if len(wave) > MAX_SECONDS * audio.TARGET_FS:
            assert "longer than the 4 s" in row["error"]
        else:
            expected = _probs(s2e(wave), s2e.labels)
            np.testing.assert_allclose([row["probs"][c] for c in s2e.labels], expected, atol=1e-4)

    long_wav = tmp_path / "long.wav"
    soundfile.write(long_wav, np.concatenate([audio.load(f) for f in files]), audio.TARGET_FS)
    plot = tmp_path / "timeline.png"
    stdout, stderr, report = _run_cli_without_torch(
        ["timeline", str(long_wav), "--model", str(exported["fp32"]), "--fixed-window", "3", "--plot", str(plot)],
        tmp_path,
    )
    assert report["heavy"] == [] and report["status"] == 0, stderr
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert rows and all(r["label"] in s2e.labels for r in rows)
    assert plot.is_file() and plot.stat().st_size > 10_000


def test_timeline_plot_draws_probabilities_and_labels(tmp_path):
    from matplotlib.image import imread

    from espnet_qieemo.bin.emo_common import EmotionResult, Record
    from espnet_qieemo.utils.timeline_plot import plot_timeline
    from espnet_qieemo.utils.vad import Segment

    labels = ["neutral", "angry"]
    done = [
        (Segment(0.0, 5.0), Record("a", result=EmotionResult("angry", {"neutral": 0.1, "angry": 0.9}))),
        (Segment(7.0, 10.0), Record("b", error="too short")),
    ]
    path = plot_timeline(done, labels, 10.0, tmp_path / "t.png", title="x")
    image = imread(path)[..., :3]
    # the band under the first segment is the colour of "angry" (tab10 #2), the gap is left white
    h, w = image.shape[:2]
    colours = image.reshape(-1, 3)
    angry = np.array([1.0, 0.498, 0.055])  # tab10 orange
    assert (np.abs(colours - angry).max(1) < 0.05).sum() > 0.01 * h * w
    blue = np.array([0.122, 0.467, 0.706])  # tab10 blue: the neutral curve
    assert (np.abs(colours - blue).max(1) < 0.05).sum() > 50


def test_onnx_export_applies_the_stored_temperature(calibrated_model, data_root, tmp_path, capsys):
    from espnet_qieemo.bin.emo_export import export_onnx

    torch_s2e = Speech2Emotion.from_pretrained(calibrated_model.packed)
    assert torch_s2e.temperature > 1
    onnx_s2e = OnnxSpeech2Emotion(export_onnx(torch_s2e, tmp_path / "calibrated.onnx", buckets=[2.5]))
    assert onnx_s2e.temperature == torch_s2e.temperature
    wav = data_root / "emodb" / "wav" / "14a01Wa.wav"
    wave = audio.load(wav)
    np.testing.assert_allclose(
        _probs(onnx_s2e(wave), onnx_s2e.labels), _probs(torch_s2e(wave), torch_s2e.labels), atol=1e-4
    )
    top = max(onnx_s2e(wave).probs.values())
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(
            ["predict", "--model", str(tmp_path / "calibrated.onnx"), str(wav)] + ["--min-confidence", f"{top + 1e-3}"]
        )
    assert status.value.code == 0
    record = json.loads(capsys.readouterr().out)
    # the CLI runs its own ONNX Runtime session: equal up to float32 rounding
    assert record["label"] == "unknown" and record["probs"] == pytest.approx(onnx_s2e(wave).probs, abs=1e-5)
