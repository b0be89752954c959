import numpy as np
import pytest
import soundfile
from pyscripts import format_audio
from pyscripts.kaldi_dir import DataDirError, read_table, write_data_dir


def sine(seconds: float, fs: int) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


@pytest.fixture
def src(tmp_path):
    """One file of each kind audio formatting meets: 16 kHz mono, 44.1 kHz stereo, 8 kHz flac, too short, broken."""
    audio = tmp_path / "audio"
    audio.mkdir()
    soundfile.write(audio / "ok16k.wav", sine(1.0, 16000), 16000)
    soundfile.write(audio / "stereo.wav", np.stack([sine(1.0, 44100), 0.5 * sine(1.0, 44100)], axis=1), 44100)
    soundfile.write(audio / "narrow.flac", sine(1.0, 8000), 8000)
    soundfile.write(audio / "short.wav", sine(0.1, 16000), 16000)
    (audio / "broken.wav").write_bytes(b"RIFF not really audio")
    utts = {
        "ok16k": "ok16k.wav",
        "stereo": "stereo.wav",
        "narrow": "narrow.flac",
        "short": "short.wav",
        "broken": "broken.wav",
    }
    write_data_dir(
        tmp_path / "src",
        {
            "wav.scp": {u: str(audio / f) for u, f in utts.items()},
            "emotion": {u: "neu" for u in utts},
            "utt2spk": {u: "s1" for u in utts},
        },
    )
    return tmp_path / "src"


def test_formats_to_16k_mono_and_excludes_with_reasons(src, tmp_path):
    dst = tmp_path / "dump" / "set"
    counts = format_audio.format_dir(src, dst, fs=16000, min_duration=0.3, nj=2)
    assert counts == {"kept": 3, "excluded": 2}
    wavs = read_table(dst / "wav.scp")
    assert wavs["ok16k"] == str(src.parent / "audio" / "ok16k.wav")  # already right: referenced in place
    for utt in ("stereo", "narrow"):
        signal, fs = soundfile.read(wavs[utt])
        assert fs == 16000 and signal.ndim == 1 and wavs[utt].startswith(str(dst / "data"))
        assert int(read_table(dst / "utt2num_samples")[utt]) == len(signal) == 16000
    excluded = read_table(dst / "excluded")
    assert excluded["short"].startswith("too short: 0.100s < 0.300s")
    assert excluded["broken"].startswith("unreadable:")
    assert set(read_table(dst / "emotion")) == set(wavs) == {"ok16k", "stereo", "narrow"}


def test_all_excluded_is_an_error_and_keeps_previous_dst(src, tmp_path):
    dst = tmp_path / "dump" / "set"
    format_audio.format_dir(src, dst, min_duration=0.3)
    before = (dst / "wav.scp").read_text()
    with pytest.raises(DataDirError, match="every utterance was excluded"):
        format_audio.format_dir(src, dst, min_duration=5.0)
    assert (dst / "wav.scp").read_text() == before
    assert not list(dst.parent.glob(".*staging"))
