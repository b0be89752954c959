"""Segmentation of long recordings: energy VAD on real speech and fixed windows."""

import numpy as np
import pytest
import soundfile

from espnet_qieemo.utils import audio, vad


def _overlap(a: vad.Segment, start: float, end: float) -> float:
    return max(0.0, min(a.end, end) - max(a.start, start))


@pytest.fixture(scope="module")
def speech_with_pauses(data_root, tmp_path_factory):
    """Three FSDD digits (8 kHz, real speech) separated by 3 s of low noise; their true spans."""
    rng = np.random.default_rng(0)
    files = sorted((data_root / "fsdd" / "recordings").glob("*.wav"))[:3]
    parts, spans, t = [], [], 0.0
    for f in files:
        silence = rng.normal(0, 1e-4, 3 * 8000).astype(np.float32)
        speech, fs = soundfile.read(f, dtype="float32")
        parts += [silence, speech]
        spans.append((t + 3.0, t + 3.0 + len(speech) / fs))
        t += 3.0 + len(speech) / fs
    parts.append(rng.normal(0, 1e-4, 3 * 8000).astype(np.float32))
    path = tmp_path_factory.mktemp("vad") / "conversation.wav"
    soundfile.write(path, np.concatenate(parts), 8000)
    return path, spans


def test_energy_vad_covers_speech_and_skips_pauses(speech_with_pauses):
    path, spans = speech_with_pauses
    segments = vad.file_segments(path)
    assert len(segments) == len(spans)
    for seg, (start, end) in zip(segments, spans):
        # Each digit is (almost) fully covered; the segment does not spill into the pause.
        assert _overlap(seg, start, end) >= 0.8 * (end - start)
        assert seg.start >= start - 0.3 and seg.end <= end + 0.3
    total = audio.info(path)[0] / 8000
    assert sum(s.duration for s in segments) < 0.5 * total


def test_streamed_energies_equal_whole_file_energies(speech_with_pauses):
    path, _ = speech_with_pauses
    whole, fs = soundfile.read(path, dtype="float32")
    streamed = vad.frame_energies_db(audio.stream_mono(path, block_seconds=0.777), fs)
    np.testing.assert_allclose(streamed, vad.frame_energies_db([whole], fs), atol=1e-4)


def test_long_speech_is_split_to_max_segment():
    energies = np.full(3000, -20.0)  # 30 s of continuous "speech"
    segments = vad.energy_vad(energies, max_segment=10.0, padding=0.0)
    assert [round(s.duration, 6) for s in segments] == [10.0, 10.0, 10.0]


def test_fixed_windows_overlap_and_end_at_the_duration():
    windows = vad.fixed_windows(10.0, 4.0, 1.0)
    assert [(w.start, w.end) for w in windows] == [(0.0, 4.0), (3.0, 7.0), (6.0, 10.0)]
    assert vad.fixed_windows(2.5, 4.0) == [vad.Segment(0.0, 2.5)]
    with pytest.raises(ValueError, match="overlap"):
        vad.fixed_windows(10.0, 2.0, 2.0)
