"""The `qieemo` console script on a packed model: predict, timeline, export."""

import csv
import io
import json
import tempfile
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from hostile_models import (
    ESCAPE,
    code_running_checkpoint,
    meta_yaml,
    model_members,
    paths_outside,
    tar_member,
    write_tar,
    write_zip,
)

from espnet_qieemo.bin import qieemo_cli
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils import audio

SHIPPED = (
    Path(__file__).resolve().parents[2]
    / "egs2"
    / "emodb_qieemo"
    / "emo1"
    / "pretrained"
    / "emo_qieemo_multicorpus4.zip"
)


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


def _code_running_weights(tmp_path: Path, marker: Path) -> Path:
    """The shipped model, its weights saved with an object whose unpickling writes ``marker``."""
    with zipfile.ZipFile(SHIPPED) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    weights = yaml.safe_load(members["meta.yaml"])["files"]["model_file"]
    state = torch.load(io.BytesIO(members[weights]), weights_only=True)
    members[weights] = code_running_checkpoint(tmp_path / "w.pth", marker, state).read_bytes()
    return write_zip(tmp_path / "evil.zip", members)


def _truncated(tmp_path: Path, _) -> Path:
    (tmp_path / "cut.zip").write_bytes(SHIPPED.read_bytes()[:100_000])
    return tmp_path / "cut.zip"


HOSTILE_MODELS = {
    "zip slip via yaml_files": (
        lambda tmp, _: write_zip(tmp / "evil.zip", {**model_members(), "meta.yaml": meta_yaml(ESCAPE), ESCAPE: "a"}),
        f"unsafe archive, refused before writing anything: member '{ESCAPE}' contains '..'",
    ),
    "tar with ../": (
        lambda tmp, _: write_tar(tmp / "evil.tar.gz", [tar_member("../../escaped.bin", b"x")]),
        "unsafe archive, refused before writing anything: member '../../escaped.bin' contains '..'",
    ),
    "weights whose pickle runs code": (_code_running_weights, "holds pickled Python objects (it needs exec)"),
    "truncated zip": (_truncated, "not a zip or tar model archive (or a truncated one)"),
}


@pytest.mark.parametrize("make, message", HOSTILE_MODELS.values(), ids=HOSTILE_MODELS.keys())
def test_predict_refuses_a_hostile_model_saying_why(make, message, data_root, tmp_path, monkeypatch):
    temp = tmp_path / "outer" / "tmp"
    temp.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # unpacked below it: '../../' would still be in tmp_path
    marker = tmp_path / "ran"
    model = make(tmp_path, marker)
    before = paths_outside(tmp_path, temp)
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(["predict", "--model", str(model), str(data_root / "emodb" / "wav" / "03a01Wa.wav")])
    assert str(status.value.code).startswith(f"qieemo predict: {model}") and message in str(status.value.code)
    assert paths_outside(tmp_path, temp) == before and not any(temp.iterdir()) and not marker.exists()


def test_predict_from_the_default_model_unpacked_as_a_hub_folder(data_root, tmp_path, capsys):
    hub = tmp_path / "hub"
    zipfile.ZipFile(SHIPPED).extractall(hub)
    wav = data_root / "emodb" / "wav" / "03a01Wa.wav"
    records = []
    for model in (SHIPPED, hub):
        with pytest.raises(SystemExit) as status:
            qieemo_cli.main(["predict", "--model", str(model), str(wav)])
        assert status.value.code == 0
        records.append(json.loads(capsys.readouterr().out))
    assert records[1]["label"] == records[0]["label"]
    assert records[1]["probs"] == pytest.approx(records[0]["probs"], abs=1e-6)


def _predict(capsys, *argv: str) -> str:
    """stdout of a successful `qieemo predict`."""
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(["predict", *argv])
    assert status.value.code == 0
    return capsys.readouterr().out


def _jsonl(capsys, *argv: str) -> list:
    return [json.loads(line) for line in _predict(capsys, *argv).splitlines()]


def test_min_confidence_answers_unknown_and_keeps_the_probabilities(calibrated_model, data_root, capsys):
    wavs = [str(data_root / "emodb" / "wav" / f"{n}.wav") for n in ("14a01Wa", "15a01Nb")]
    model = ["--model", str(calibrated_model.packed)]
    plain = _jsonl(capsys, *model, *wavs)
    top = [max(r["probs"].values()) for r in plain]
    threshold = (min(top) + max(top)) / 2 if max(top) - min(top) > 1e-3 else max(top) + 1e-3
    abstained = _jsonl(capsys, *model, *wavs, "--min-confidence", str(threshold))
    for before, after, p in zip(plain, abstained, top):
        assert after["probs"] == before["probs"]
        assert after["label"] == ("unknown" if p < threshold else before["label"])
    assert any(r["label"] == "unknown" for r in abstained)
    assert _jsonl(capsys, *model, *wavs, "--min-confidence", "0") == plain
    with pytest.raises(SystemExit) as status:
        qieemo_cli.main(["predict", *model, *wavs, "--min-confidence", "1.5"])
    assert status.value.code == 2 and "expected a probability between 0 and 1, got '1.5'" in capsys.readouterr().err


def test_min_confidence_in_csv_keeps_the_probability_columns(calibrated_model, data_root, capsys):
    args = [
        "--model",
        str(calibrated_model.packed),
        str(data_root / "emodb" / "wav" / "14a01Wa.wav"),
        "--format",
        "csv",
    ]
    [row] = list(csv.DictReader(_predict(capsys, *args).splitlines()))
    [abstained] = list(csv.DictReader(_predict(capsys, *args, "--min-confidence", "1").splitlines()))
    assert row["label"] != "unknown" and abstained == {**row, "label": "unknown"}
