"""Speech2Emotion and the recipe's batch decoding, on a small model trained by emo_train."""

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.bin import emo_inference
from espnet_qieemo.bin.emo_inference import Speech2Emotion, detokenize
from espnet_qieemo.utils import audio

with no_nltk_downloads():
    from espnet2.tasks.asr import ASRTask


@pytest.fixture(scope="module")
def s2e(emo_model):
    return Speech2Emotion(emo_model.config, emo_model.model_file, batch_size=3)


@pytest.fixture(scope="module")
def emodb(data_root):
    return sorted((data_root / "emodb" / "wav").glob("1[34]*.wav"))  # speakers unseen in training


def _probs(result):
    return np.array(list(result.probs.values()))


def test_batch_equals_one_by_one_and_packed_equals_unpacked(s2e, emo_model, emodb):
    waves = [audio.load(f) for f in emodb[:7]]
    waves = [w[: len(w) * (i + 3) // 10] for i, w in enumerate(waves)]  # 0.6 s ... 1.8 s, all different
    batched = Speech2Emotion.from_pretrained(emo_model.packed, batch_size=4)(waves)
    alone = [s2e(w) for w in waves]
    assert s2e.labels == emo_model.labels and list(batched[0].probs) == emo_model.labels
    for b, a in zip(batched, alone):
        assert b.label == a.label
        np.testing.assert_allclose(_probs(b), _probs(a), atol=1e-4)
        assert _probs(a).sum() == pytest.approx(1.0, abs=1e-5)


def test_other_rates_and_stereo_match_16k_mono(s2e, emodb, tmp_path):
    """Tolerances (max abs difference of class probabilities): 22.05 kHz and stereo 0.01, 8 kHz 0.05.

    The reference is the 16 kHz mono version made by an independent resampler (scipy's
    polyphase filter); 8 kHz audio has lost everything above 4 kHz, hence its wider bound.
    """
    original, fs = soundfile.read(emodb[0], dtype="float32")
    reference = s2e(resample_poly(original, 320, 441).astype(np.float32), fs=16000)
    narrow = resample_poly(original, 320, 882).astype(np.float32)
    stereo = np.stack([1.2 * original, 0.8 * original], axis=1)
    soundfile.write(tmp_path / "8k.wav", narrow, 8000)
    soundfile.write(tmp_path / "stereo.flac", stereo.clip(-1, 1), fs)
    cases = {
        "22.05k file": (audio.load(emodb[0]), None, 0.01),
        "22.05k array": (original, fs, 0.01),
        "stereo file": (audio.load(tmp_path / "stereo.flac"), None, 0.01),
        "8k file": (audio.load(tmp_path / "8k.wav"), None, 0.05),
    }
    for name, (signal, rate, tol) in cases.items():
        diff = np.abs(_probs(s2e(signal, fs=rate)) - _probs(reference)).max()
        assert diff <= tol, f"{name}: probabilities differ by {diff:.4f} > {tol}"


def test_bad_arrays_are_named_by_their_index(s2e, emodb):
    good = audio.load(emodb[0])
    for bad, reason in [
        (np.zeros(0, np.float32), "zero-length"),
        (np.zeros(16000, np.float32), "all-silent"),
        (np.where(np.arange(len(good)) == 5, np.nan, good), "NaN"),
    ]:
        with pytest.raises(audio.AudioError, match=f"input 1: .*{reason}"):
            s2e([good, bad])


def test_shortest_accepted_clip_is_exactly_what_the_model_takes(s2e, emodb):
    wave = audio.load(emodb[0])[: s2e.min_samples]
    assert s2e(wave).label in s2e.labels
    # the model itself fails one sample shorter: the bound is tight
    with pytest.raises((RuntimeError, emo_inference.TooShortUttError)):
        s2e.classify_batch([wave[:-1]])
    with pytest.raises(audio.AudioError, match=r"input 0: too short: 0\.\d+ s of audio, at least"):
        s2e(wave[:-1])


def test_transcript_equals_espnet_asr_decoding_with_the_same_weights(s2e, asr_exp, data_root):
    """ESPnet's ASR model, given the emotion model's encoder and kept CTC head, transcribes the same.

    (The weights are copied because fine-tuning moves the encoder, BatchNorm statistics included.)
    """
    wav = next((data_root / "mini_an4" / "an4" / "wav" / "an4test_clstk").rglob("*.sph"))
    speech = audio.load(wav)
    with_text = s2e(speech, with_text=True)
    assert _probs(with_text) == pytest.approx(_probs(s2e(speech)), abs=1e-6)
    asr = asr_exp("efficient_conformer")
    model, _ = ASRTask.build_model_from_file(asr.config, asr.model_file, "cpu")
    shared = {k: v for k, v in s2e.model.state_dict().items() if k.startswith(("encoder.", "ctc.", "normalize."))}
    missing = [
        k for k in model.load_state_dict(shared, strict=False).missing_keys if k.startswith(("encoder.", "ctc."))
    ]
    assert not missing
    model.eval()
    with torch.no_grad():
        enc, lens = model.encode(torch.from_numpy(speech)[None], torch.tensor([len(speech)]))
        ids = torch.unique_consecutive(model.ctc.argmax(enc)[0, : int(lens[0])]).tolist()
    expected = detokenize([model.token_list[i] for i in ids if i != 0])
    assert with_text.text == expected and expected


def test_recipe_decoding_writes_results_and_per_file_errors(s2e, emo_model, emodb, tmp_path):
    bad = {
        "empty": lambda p: p.write_bytes(b""),
        "text": lambda p: p.write_text("definitely not audio\n" * 10),
        "silent": lambda p: soundfile.write(p, np.zeros(8000, np.float32), 16000),
        "nan": lambda p: soundfile.write(p, np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT"),
    }
    lines = [f"good{i} {f}" for i, f in enumerate(emodb[:3])]
    for name, make in bad.items():
        make(tmp_path / f"{name}.wav")
        lines.insert(1, f"{name} {tmp_path / name}.wav")
    (tmp_path / "wav.scp").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="4 input"):
        emo_inference.main(
            [
                "--output_dir",
                str(out),
                "--batch_size",
                "2",
                "--model_tag",
                str(emo_model.packed),
                "--data_path_and_name_and_type",
                f"{tmp_path / 'wav.scp'},speech,sound",
            ]
        )
    assert (out / "labels").read_text().split() == emo_model.labels
    errors = dict(line.split(" ", 1) for line in (out / "errors").read_text().splitlines())
    assert set(errors) == set(bad)
    for name, reason in [
        ("empty", "empty file"),
        ("text", "not a readable audio file"),
        ("silent", "all-silent"),
        ("nan", "NaN"),
    ]:
        assert reason in errors[name]
    scores = {line.split()[0]: np.array(line.split()[1:], float) for line in (out / "score").read_text().splitlines()}
    emotions = dict(line.split() for line in (out / "emotion").read_text().splitlines())
    assert list(scores) == list(emotions) == ["good0", "good1", "good2"]
    for i, f in enumerate(emodb[:3]):
        expected = s2e(audio.load(f))
        np.testing.assert_allclose(scores[f"good{i}"], _probs(expected), atol=1e-5)
        assert emotions[f"good{i}"] == expected.label
