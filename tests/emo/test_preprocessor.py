"""Training-time augmentation through the emotion task's preprocessor, on a real EmoDB clip:
applied to training data only, each part doing what it says, bad options named."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet_qieemo.emo.preprocessor import SpeechAugmentation, parse_db_range
from espnet_qieemo.tasks.emotion import EmotionTask
from espnet_qieemo.utils import audio

FS = 16000


@pytest.fixture(scope="module")
def clip(data_root) -> np.ndarray:
    return audio.load(data_root / "emodb" / "wav" / "03a01Wa.wav").astype(np.float32)


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Path:
    """One decaying impulse response and one noise, made here, with ESPnet-style lists."""
    d = tmp_path_factory.mktemp("room")
    rng = np.random.default_rng(0)
    rir = rng.standard_normal(4000) * np.exp(-np.arange(4000) / 600.0)
    rir[0] = 1.0
    soundfile.write(d / "rir.wav", rir / np.abs(rir).max(), FS)
    soundfile.write(d / "noise.wav", 0.3 * rng.standard_normal(3 * FS), FS)
    (d / "rir.scp").write_text(f"r1 {d / 'rir.wav'}\n")
    (d / "noise.scp").write_text(f"{d / 'noise.wav'}\n")  # ESPnet accepts a bare path too
    return d


def parse(*options: str):
    return EmotionTask.get_parser().parse_args(["--labels", "neu", "ang", *options])


def test_training_data_is_augmented_and_inference_data_is_not(clip, room):
    args = parse("--rir_scp", str(room / "rir.scp"), "--noise_scp", str(room / "noise.scp"), "--gain_db_range=-6_6")
    train, infer = EmotionTask.build_preprocess_fn(args, True), EmotionTask.build_preprocess_fn(args, False)
    np.random.seed(0)
    out = train("u", {"speech": clip, "emotion": "ang"})
    assert out["emotion"].tolist() == [1] and out["speech"].dtype == np.float32
    assert out["speech"].shape == clip.shape and not np.allclose(out["speech"], clip, atol=1e-3)
    assert np.array_equal(infer("u", {"speech": clip})["speech"], clip)
    plain = EmotionTask.build_preprocess_fn(parse(), True)
    assert plain.augmentation is None and np.array_equal(plain("u", {"speech": clip})["speech"], clip)


def test_speed_perturbation_and_band_limiting_are_espnets_effects(clip):
    np.random.seed(0)
    faster = SpeechAugmentation(fs=FS, data_aug_effects=[[1.0, "speed_perturb", {"factor": 1.1}]], data_aug_prob=1.0)(
        "u", clip
    )
    assert abs(len(faster) - len(clip) / 1.1) < 0.01 * len(clip)
    narrow = SpeechAugmentation(
        fs=FS, data_aug_effects=[[1.0, "bandwidth_limitation", {"res_type": "soxr_hq"}]], data_aug_prob=1.0
    )("u", clip)
    spectrum, original = np.abs(np.fft.rfft(narrow)), np.abs(np.fft.rfft(clip))
    freqs = np.fft.rfftfreq(len(clip), 1.0 / FS)
    high = freqs > 7000  # every rate ESPnet picks below 16 kHz removes this band
    assert spectrum[high].sum() < 0.1 * original[high].sum()


def test_gain_stays_in_its_range_and_never_clips(clip):
    np.random.seed(0)
    gains = []
    for _ in range(20):
        out = SpeechAugmentation(fs=FS, gain_db_range="-10_10")("u", clip)
        assert np.max(np.abs(out)) <= 1.0
        gains.append(20 * np.log10(np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(clip**2))))
    assert min(gains) >= -10.01 and max(gains) <= 10.01 and max(gains) - min(gains) > 5
    loud = SpeechAugmentation(fs=FS, gain_db_range="30_30")("u", clip)
    assert np.isclose(np.max(np.abs(loud)), 1.0)  # scaled back to full scale, not clipped


@pytest.mark.parametrize(
    "value, expected", [("13_15", (13.0, 15.0)), ("-10_6", (-10.0, 6.0)), ("-12_-3", (-12.0, -3.0)), ("5", (5.0, 5.0))]
)
def test_db_ranges_read_as_espnet_writes_them(value, expected):
    assert parse_db_range(value, "--gain_db_range") == expected


def test_bad_options_name_the_key_and_what_was_expected(room, tmp_path):
    with pytest.raises(ValueError, match=r"--gain_db_range: expected '<low>_<high>' in dB with low <= high"):
        SpeechAugmentation(gain_db_range="6_-6")
    with pytest.raises(ValueError, match=r"--rir_scp .*missing.scp: not found; expected a list of audio files"):
        SpeechAugmentation(rir_scp=str(tmp_path / "missing.scp"))
    (tmp_path / "noise.scp").write_text(f"n1 {room / 'noise.wav'}\nn2 {tmp_path / 'gone.wav'}\n")
    with pytest.raises(ValueError, match=r"--noise_scp .*noise.scp: 1 listed file\(s\) not found, e.g. .*gone.wav"):
        SpeechAugmentation(noise_scp=str(tmp_path / "noise.scp"))
    with pytest.raises(ValueError, match=r"--noise_db_range: expected"):
        SpeechAugmentation(noise_scp=str(room / "noise.scp"), noise_db_range="loud")
