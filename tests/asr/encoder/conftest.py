"""Fixtures for encoder tests: log-mel features of real speech and a small encoder config."""

from pathlib import Path
from typing import Dict, List

import pytest
import soundfile
import torch

from espnet_qieemo._offline import no_nltk_downloads

with no_nltk_downloads():
    from espnet2.asr.frontend.default import DefaultFrontend

# EmoDB utterances (22.05 kHz, 2 s): four speakers and emotions.
EMODB_FILES = ["03a01Fa.wav", "08a01Na.wav", "11b03Wb.wav", "16a01Lb.wav"]
EMODB_RATE = 22050
HOP = 220  # 10 ms
# Lengths (10 ms frames) that no downsampling factor used in the tests divides.
FRAME_LENGTHS = [97, 83, 61, 43]

# A small encoder that uses every feature: two strides (x2 after block 1, x3 after
# block 3) and grouped attention at full and half rate.
SMALL_ENCODER: Dict = dict(
    output_size=64,
    attention_heads=4,
    linear_units=128,
    num_blocks=6,
    cnn_module_kernel=7,
    stride_layer_idx=[1, 3],
    stride=[2, 3],
    group_layer_idx=[0, 1, 2],
    group_size=3,
)


@pytest.fixture(scope="session")
def speech_feats(data_root: Path) -> List[torch.Tensor]:
    """80-dim log-mels (ESPnet's frontend) of four real utterances, cut to FRAME_LENGTHS."""
    frontend = DefaultFrontend(fs=EMODB_RATE, n_fft=512, hop_length=HOP, n_mels=80)
    frontend.eval()
    feats = []
    for name, frames in zip(EMODB_FILES, FRAME_LENGTHS):
        wav, rate = soundfile.read(data_root / "emodb" / "wav" / name, dtype="float32")
        assert rate == EMODB_RATE, f"{name}: expected {EMODB_RATE} Hz, got {rate}"
        wav = torch.from_numpy(wav)[None]
        with torch.no_grad():
            feat, _ = frontend(wav, torch.tensor([wav.size(1)]))
        assert feat.size(1) >= frames, f"{name}: only {feat.size(1)} frames"
        feats.append(feat[0, :frames])
    return feats


def pad_batch(feats: List[torch.Tensor]):
    lens = torch.tensor([f.size(0) for f in feats])
    batch = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    return batch, lens
