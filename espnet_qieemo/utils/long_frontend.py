"""STFT frontends on long recordings, in overlapping time chunks.

ESPnet's DefaultFrontend zeroes padded frames with ``make_pad_mask``, which builds a
(frames+1)^2 boolean matrix: 3.6 GB for 10 minutes of 10 ms frames, and more than
10 GB at its peak. Frames of a centred STFT only read the samples under their window,
so the frames of a chunk computed from a slice of audio that covers their windows are
the frames of the whole recording; chunks of ``sqrt(SCORE_BUDGET)`` frames keep that
matrix at SCORE_BUDGET elements.
"""

import math
from typing import Tuple

import torch

from espnet_qieemo.utils import chunking


def _centred_stft(frontend: torch.nn.Module) -> bool:
    stft = getattr(frontend, "stft", None)
    return stft is not None and getattr(stft, "center", False)


def utterance_feats(
    frontend: torch.nn.Module, wav: torch.Tensor, length: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``frontend(wav, length)`` for one unpadded utterance (1, samples), in bounded memory.

    Frontends without a centred STFT, and utterances that fit in one chunk, run in one
    call. Otherwise chunk [f0, f1) is computed from the samples of frames
    f0 - margin ... f1 - 1 + margin, where ``margin`` frames cover half an FFT window, and
    the margin frames (which saw the slice's reflected edges) are dropped.
    """
    if not _centred_stft(frontend):
        return frontend(wav, length)
    hop, n_fft = frontend.stft.hop_length, frontend.stft.n_fft
    samples = wav.size(1)
    frames = 1 + samples // hop
    chunks = chunking.row_chunks(frames, math.isqrt(chunking.SCORE_BUDGET))
    if len(chunks) == 1:
        return frontend(wav, length)
    margin = math.ceil(n_fft / 2 / hop)
    pieces = []
    for rows in chunks:
        first = max(0, rows.start - margin)
        end = min(samples, (rows.stop - 1 + margin) * hop + 1)
        piece = wav[:, first * hop : end]
        feats, _ = frontend(piece, length.new_full((1,), piece.size(1)))
        pieces.append(feats[:, rows.start - first : rows.stop - first])
    feats = torch.cat(pieces, dim=1)
    return feats, length.new_full((1,), feats.size(1))
