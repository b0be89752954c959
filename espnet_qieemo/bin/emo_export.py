"""Export an emotion model to ONNX: frontend features -> class probabilities.

The exported graph holds everything after the frontend (normalisation, encoder, block
fusion, cross-modal attention, pooling, classifier head and softmax), so a runtime only
has to compute the log-mel features, which every speech toolkit has. The STFT frontend
is left out because its padding (reflection at the utterance end) does not export
faithfully.

The graph has a fixed input size: ``feats`` (1, max_frames, n_mels) float32 holding the
utterance's features followed by any padding, and ``feats_lengths`` (1,) int64, its true
number of frames; output ``probs`` (1, C). A traced graph keeps the Python-level shape
arithmetic of the encoder (group and stride padding, rate alignment) as constants, so
variable-length inputs would be computed wrongly; the encoder masks padding exactly, so
one fixed size plus a length input gives the same probabilities as PyTorch for any
utterance up to ``max_seconds``. The label order is written beside the model
(``<model>.labels.json``).
"""

import json
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from espnet_qieemo.asr.encoder.block_outputs import BlockOutputCollector
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils.fileio import atomic_write
from espnet_qieemo.utils.long_frontend import utterance_feats


class FeatsToProbs(torch.nn.Module):
    """The model after its frontend, with softmax, as one traceable module."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        m = self.model
        if m.normalize is not None:
            feats, lens = m.normalize(feats, lens)
        with BlockOutputCollector(m.encoder) as collector:
            enc, enc_lens, _ = m.encoder(feats, lens)
        if isinstance(enc, tuple):
            enc = enc[0]
        return torch.softmax(m.classify_blocks(enc, enc_lens, collector.outputs), dim=-1)


def features(s2e: Speech2Emotion, wave) -> torch.Tensor:
    """Frontend features (1, frames, n_mels) of one model-ready waveform."""
    speech = torch.as_tensor(wave, dtype=torch.float32).unsqueeze(0)
    with torch.no_grad():
        feats, _ = utterance_feats(s2e.model.frontend, speech, torch.tensor([speech.size(1)]))
    return feats


def onnx_inputs(feats: torch.Tensor, max_frames: int) -> Dict[str, np.ndarray]:
    """Pad (1, frames, n_mels) features to the exported size; the ONNX model's input dict."""
    frames = feats.size(1)
    if frames > max_frames:
        raise ValueError(f"{frames} frames exceed the exported maximum of {max_frames}; cut the audio first")
    padded = torch.nn.functional.pad(feats, (0, 0, 0, max_frames - frames))
    return {"feats": padded.numpy(), "feats_lengths": np.array([frames], dtype=np.int64)}


def export_onnx(s2e: Speech2Emotion, path: Path, max_seconds: float = 30.0, opset: int = 17) -> Path:
    """Write ``path`` and ``<path stem>.labels.json`` (labels, sample rate, max_frames)."""
    if s2e.model.frontend is None:
        raise ValueError("the model has no frontend; export expects one that computes features")
    example = features(s2e, np.zeros(int(max_seconds * s2e.fs), dtype=np.float32))
    max_frames = example.size(1)
    inputs = onnx_inputs(torch.randn_like(example), max_frames)
    path = Path(path)
    with atomic_write(path, "wb") as f, torch.no_grad():
        torch.onnx.export(
            FeatsToProbs(s2e.model).eval(),
            (torch.from_numpy(inputs["feats"]), torch.from_numpy(inputs["feats_lengths"])),
            f,
            input_names=["feats", "feats_lengths"],
            output_names=["probs"],
            opset_version=opset,
            dynamo=False,
        )
    with atomic_write(path.with_suffix(".labels.json")) as f:
        json.dump({"labels": s2e.labels, "fs": s2e.fs, "max_frames": max_frames}, f)
    return path
