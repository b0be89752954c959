"""Audio input: formats, rates, channels, and the reasons bad input is refused."""

import numpy as np
import pytest
import soundfile
from scipy.signal import resample_poly

from espnet_qieemo.utils import audio


@pytest.fixture(scope="module")
def emodb_file(data_root):
    return data_root / "emodb" / "wav" / "03a01Fa.wav"


def test_load_resamples_22k_to_16k_like_an_independent_resampler(emodb_file):
    signal, fs = soundfile.read(emodb_file, dtype="float32")
    assert fs == 22050
    ours = audio.load(emodb_file)
    reference = resample_poly(signal, 320, 441).astype(np.float32)  # 22050 * 320 / 441 = 16000
    assert len(ours) == len(reference) == 32000
    # Two different band-limited resamplers agree up to their filters' stop-band error.
    assert np.sqrt(np.mean((ours - reference) ** 2)) < 0.01 * np.sqrt(np.mean(reference**2))


def test_stereo_is_down_mixed_to_the_channel_mean(emodb_file, tmp_path):
    signal, fs = soundfile.read(emodb_file, dtype="float32")
    stereo = np.stack([signal, 0.5 * signal], axis=1)
    soundfile.write(tmp_path / "stereo.flac", stereo, fs, subtype="PCM_24")
    mono = audio.load(tmp_path / "stereo.flac")
    np.testing.assert_allclose(mono, audio.load(emodb_file) * 0.75, atol=1e-4)


def test_integer_pcm_arrays_are_scaled_like_float_reads(emodb_file):
    pcm, fs = soundfile.read(emodb_file, dtype="int16")
    np.testing.assert_allclose(audio.prepare(pcm, fs), audio.load(emodb_file), atol=1e-6)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("not audio at all\n" * 20), "not a readable audio file"),
        (lambda p: soundfile.write(p, np.zeros((0,), np.float32), 16000), "zero-length"),
        (lambda p: soundfile.write(p, np.zeros(16000, np.float32), 16000), "all-silent"),
        (lambda p: soundfile.write(p, np.array([0.1, np.nan] * 8000, np.float32), 16000, subtype="FLOAT"), "NaN"),
    ],
)
def test_bad_files_raise_audio_error_with_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(audio.AudioError, match=reason):
        audio.load(path)


def test_read_span_reads_only_the_requested_frames(emodb_file):
    full = audio.load(emodb_file)
    span = audio.read_span(emodb_file, 22050 // 2, 22050, audio.TARGET_FS)
    assert len(span) == 8000
    # Resampling edges differ; the middle matches the whole-file read.
    np.testing.assert_allclose(span[1000:7000], full[9000:15000], atol=2e-3)


def test_expand_inputs_lists_audio_inside_directories(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.wav", "d/sub/a.flac", "d/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = list(audio.expand_inputs([tmp_path / "d", tmp_path / "x.wav"]))
    assert found == [tmp_path / "d/b.wav", tmp_path / "d/sub/a.flac", tmp_path / "x.wav"]
