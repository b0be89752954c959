"""One STFT for a padded batch (``utils.batch_frontend``) equals ESPnet's per-utterance frontend,
and ``Speech2Emotion`` batches built with it equal one-by-one results (shipped model, real audio)."""

import numpy as np
import pytest
import torch

from espnet_qieemo.bin import qieemo_cli
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils import audio, batch_frontend
from espnet_qieemo.utils.long_frontend import utterance_feats


@pytest.fixture(scope="module")
def s2e():
    return Speech2Emotion.from_pretrained(qieemo_cli.SHIPPED_MODEL)


@pytest.fixture(scope="module")
def waves(data_root):
    files = sorted((data_root / "emodb" / "wav").glob("1[1-5]*.wav"))[:5]
    return [audio.load(f)[: int(c * 16000)] for f, c in zip(files, [0.4, 3.0, 1.234, 2.5, 0.9])]


def _batch(waves):
    lengths = torch.tensor([len(w) for w in waves])
    speech = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        speech[i, : len(w)] = torch.from_numpy(w)
    return speech, lengths


def test_batched_logmel_equals_espnet_per_utterance(s2e, waves):
    frontend = s2e.model.frontend
    assert batch_frontend.supports(frontend)
    speech, lengths = _batch(waves)
    with torch.no_grad():
        feats, frames = batch_frontend.batch_logmel(frontend, speech, lengths)
        for i, w in enumerate(waves):
            ref, n = utterance_feats(frontend, torch.from_numpy(w)[None], torch.tensor([len(w)]))
            assert int(frames[i]) == int(n[0]) == ref.size(1)
            torch.testing.assert_close(feats[i, : int(n[0])], ref[0], atol=1e-4, rtol=1e-5)
            assert feats[i, int(n[0]) :].abs().sum() == 0  # padding frames zeroed, as ESPnet does


def test_padded_batches_equal_one_by_one(s2e, waves):
    labels = s2e.labels
    one = np.array([[s2e(w).probs[c] for c in labels] for w in waves])
    s2e.batch_size = len(waves)
    try:
        batched = np.array([[r.probs[c] for c in labels] for r in s2e(waves)])
        s2e.batch_frontend = False
        per_utt = np.array([[r.probs[c] for c in labels] for r in s2e(waves)])
    finally:
        s2e.batch_size, s2e.batch_frontend = 8, True
    np.testing.assert_allclose(batched, one, atol=1e-4, rtol=0)
    np.testing.assert_allclose(batched, per_utt, atol=1e-4, rtol=0)
