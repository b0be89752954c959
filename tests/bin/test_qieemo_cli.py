"""The `qieemo` console script on a packed model: predict, timeline, export."""

import csv
import json
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_qieemo.bin import qieemo_cli
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils import audio


@pytest.fixture(scope="module")
def s2e(emo_model):
    return Speech2Emotion.from_pretrained(emo_model.packed)


def _probs(record_or_result, labels):
    probs = record_or_result["probs"] if isinstance(record_or_result, dict) else record_or_result.probs
    return np.array([probs[c] for c in labels])


def test_console_script_is_installed():
    scripts = entry_points(group="console_scripts")
    assert scripts["qieemo"].value == "espnet_qieemo.bin.qieemo_cli:main"


def test_predict_gives_one_record_per_file_and_fails_softly(emo_model, s2e, data_root, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    (inputs / "sub").mkdir(parents=True)
    emodb = sorted((data_root / "emodb" / "wav").glob("16*.wav"))[:2]
    digit = sorted((data_root / "fsdd" / "recordings").glob("*.wav"))[0]  # 8 kHz
    signal, fs = soundfile.read(emodb[1], dtype="float32")
    soundfile.write(inputs / "sub" / "stereo.flac", np.stack([signal, signal], 1), fs)
    (inputs / "empty.wav").write_bytes(b"")
    (inputs / "notes.wav").write_text("not audio\n" * 30)
    soundfile.write(inputs / "zero.wav", np.zeros(0, np.float32), 16000)
    soundfile.write(inputs / "silent.wav", np.zeros(16000, np.float32), 16000)
    soundfile.write(inputs / "nan.wav", np.full(4000, np.nan, np.float32), 16000, subtype="FLOAT")
    soundfile.write(inputs / "short.wav", 0.1 * np.random.default_rng(0).standard_normal(800), 16000)  # 50 ms
    (inputs / "truncated.wav").write_bytes(emodb[1].read_bytes()[:60])  # header + 8 samples
    out = tmp_path / "records.jsonl"
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(
            [
                "predict",
                "--model",
                str(emo_model.packed),
                str(emodb[0]),
                str(digit),
                str(inputs),
                "--batch-size",
                "2",
                "-o",
                str(out),
            ]
        )
    assert status.value.code == 1
    stderr = capsys.readouterr().err
    assert "[qieemo] 10/10 files" in stderr and "7 of 10 file(s) failed" in stderr
    records = {Path(r["file"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(records) == 10
    reasons = {
        "empty.wav": "empty file",
        "notes.wav": "not a readable audio file",
        "zero.wav": "zero-length",
        "silent.wav": "all-silent",
        "nan.wav": "NaN",
        "short.wav": f"too short: 0.050 s of audio, at least {s2e.min_samples / s2e.fs:.3f} s needed",
        "truncated.wav": "truncated WAV file: its header announces",
    }
    for name, reason in reasons.items():
        assert reason in records[name]["error"] and "label" not in records[name]
        # one line on stderr per failed file, naming it
        assert [
            line
            for line in stderr.splitlines()
            if line.startswith("qieemo predict: ") and name in line and reason in line
        ]
    for path in (emodb[0], digit, inputs / "sub" / "stereo.flac"):
        expected = s2e(audio.load(path))
        assert records[path.name]["label"] == expected.label
        np.testing.assert_allclose(_probs(records[path.name], s2e.labels), _probs(expected, s2e.labels), atol=1e-5)


def test_predict_csv_columns(emo_model, data_root, tmp_path, capsys):
    wav = sorted((data_root / "emodb" / "wav").glob("16*.wav"))[0]
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(["predict", "--model", str(emo_model.packed), str(wav), "--format", "csv"])
    assert status.value.code == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert list(rows[0]) == ["file", "label", *(f"p_{c}" for c in emo_model.labels), "error"]
    assert sum(float(rows[0][f"p_{c}"]) for c in emo_model.labels) == pytest.approx(1.0, abs=1e-4)


@pytest.fixture(scope="module")
def conversation(data_root, tmp_path_factory):
    """Three EmoDB utterances (22.05 kHz) between 4 s pauses of faint noise; their speech spans."""
    rng = np.random.default_rng(1)
    files = [sorted((data_root / "emodb" / "wav").glob(f"13*{e}?.wav"))[0] for e in "WTN"]
    parts, spans, t = [], [], 0.0
    for f in files:
        speech, fs = soundfile.read(f, dtype="float32")
        active = np.flatnonzero(np.abs(speech) > 0.02)  # EmoDB clips are padded to 2 s
        parts += [rng.normal(0, 3e-4, 4 * fs).astype(np.float32), speech]
        spans.append((t + 4 + active[0] / fs, t + 4 + active[-1] / fs))
        t += 4 + len(speech) / fs
    parts.append(rng.normal(0, 3e-4, 4 * fs).astype(np.float32))
    path = tmp_path_factory.mktemp("timeline") / "conversation.wav"
    soundfile.write(path, np.concatenate(parts), fs)
    return path, spans, t + 4


def test_timeline_segments_cover_speech_not_pauses(emo_model, s2e, conversation, tmp_path):
    path, spans, duration = conversation
    out = tmp_path / "timeline.jsonl"
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(["timeline", "--model", str(emo_model.packed), str(path), "-o", str(out)])
    assert status.value.code == 0
    segments = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(segments) == len(spans)
    for seg, (start, end) in zip(segments, spans):
        assert seg["start"] <= start + 0.1 and seg["end"] >= end - 0.1  # covers the speech
        assert seg["start"] >= start - 0.5 and seg["end"] <= end + 0.5  # not the pauses
        fs = soundfile.info(str(path)).samplerate
        expected = s2e(audio.read_span(path, int(seg["start"] * fs), int(seg["end"] * fs)))
        assert seg["label"] == expected.label
        np.testing.assert_allclose(_probs(seg, s2e.labels), _probs(expected, s2e.labels), atol=1e-4)


def test_timeline_fixed_windows_with_overlap(emo_model, conversation, capsys):
    path, _, duration = conversation
    with pytest.raises(SystemExit):
        qieemo_cli.main(
            [
                "timeline",
                "--model",
                str(emo_model.packed),
                str(path),
                "--fixed-window",
                "5",
                "--overlap",
                "1",
                "--format",
                "csv",
            ]
        )
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    starts = [float(r["start"]) for r in rows]
    assert starts[:3] == [0.0, 4.0, 8.0] and float(rows[-1]["end"]) == pytest.approx(duration, abs=1e-3)
    assert all(r["label"] in emo_model.labels or "all-silent" in r["error"] for r in rows)


def test_export_onnx_matches_pytorch_on_real_audio(emo_model, s2e, data_root, tmp_path):
    pytest.importorskip("onnxruntime")
    from espnet_qieemo.ort_backend import OnnxSpeech2Emotion

    onnx_file = tmp_path / "emo.onnx"
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(["export", "--model", str(emo_model.packed), str(onnx_file), "--max-seconds", "3"])
    assert status.value.code == 0
    onnx_s2e = OnnxSpeech2Emotion(onnx_file)
    assert onnx_s2e.labels == emo_model.labels
    wav = audio.load(sorted((data_root / "emodb" / "wav").glob("14*.wav"))[0])
    for n in (len(wav), len(wav) // 3):  # the full 2 s and a 0.67 s cut
        np.testing.assert_allclose(_probs(onnx_s2e(wav[:n]), s2e.labels), _probs(s2e(wav[:n]), s2e.labels), atol=1e-4)
