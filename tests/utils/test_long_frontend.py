"""Chunked STFT features of a long recording equal ESPnet's one-pass features."""

import numpy as np
import pytest
import soundfile
import torch

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.utils import chunking
from espnet_qieemo.utils.long_frontend import utterance_feats

with no_nltk_downloads():
    from espnet2.asr.frontend.default import DefaultFrontend


@pytest.fixture(scope="module")
def long_wav(data_root) -> torch.Tensor:
    """About 12 s of real speech: EmoDB utterances end to end, cut off the hop grid."""
    files = sorted((data_root / "emodb" / "wav").glob("03a0*.wav"))[:6]
    wav = np.concatenate([soundfile.read(f, dtype="float32")[0] for f in files])
    return torch.from_numpy(wav[: len(wav) - 37])[None]


@pytest.mark.parametrize("n_fft,hop", [(512, 220), (400, 160)])
def test_chunked_frontend_equals_one_pass(monkeypatch, long_wav, n_fft, hop):
    frontend = DefaultFrontend(fs=22050, n_fft=n_fft, hop_length=hop, n_mels=80).eval()
    length = torch.tensor([long_wav.size(1)])
    with torch.no_grad():
        want, want_len = frontend(long_wav, length)
        monkeypatch.setattr(chunking, "SCORE_BUDGET", 150**2)  # 150-frame chunks
        got, got_len = utterance_feats(frontend, long_wav, length)
    assert want.size(1) > 4 * 150, "the recording must span several chunks"
    assert got_len.tolist() == want_len.tolist() == [got.size(1)]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
