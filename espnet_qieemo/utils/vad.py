"""Cut long recordings into pieces an utterance-level model can classify.

Emotion models are trained on single utterances, so a conversation is split either at
pauses (energy-based voice activity) or into fixed overlapping windows. The energy
track is computed block by block from a stream, so a 30-minute file is never held in
memory; only the per-frame energies (100 per second) are.
"""

from dataclasses import dataclass
from typing import Iterable, List, Optional

import numpy as np

from espnet_qieemo.utils import audio

HOP_SECONDS = 0.01


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float  # seconds

    @property
    def duration(self) -> float:
        return self.end - self.start


def frame_energies_db(blocks: Iterable[np.ndarray], fs: int, hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """Mean-square energy (dBFS) of consecutive non-overlapping frames over a block stream."""
    hop = max(1, int(round(hop_seconds * fs)))
    energies, carry = [], np.zeros(0, dtype=np.float32)
    for block in blocks:
        data = np.concatenate([carry, block.astype(np.float32, copy=False)])
        usable = len(data) // hop * hop
        frames = data[:usable].reshape(-1, hop)
        energies.append((frames.astype(np.float64) ** 2).mean(axis=1))
        carry = data[usable:]
    if len(carry):
        energies.append(np.array([(carry.astype(np.float64) ** 2).mean()]))
    power = np.concatenate(energies) if energies else np.zeros(0)
    return 10.0 * np.log10(power + 1e-12)


def _runs(active: np.ndarray) -> List[List[int]]:
    """[first, last + 1) index pairs of the True runs."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return [[int(s), int(e)] for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def _split_long(segment: Segment, max_seconds: float) -> List[Segment]:
    """Equal pieces no longer than ``max_seconds`` (the model's utterance scale)."""
    pieces = int(np.ceil(segment.duration / max_seconds))
    if pieces <= 1:
        return [segment]
    step = segment.duration / pieces
    return [Segment(segment.start + i * step, segment.start + (i + 1) * step) for i in range(pieces)]


def energy_vad(
    energies_db: np.ndarray,
    hop_seconds: float = HOP_SECONDS,
    floor_db: float = -50.0,
    dynamic_range_db: float = 35.0,
    min_silence: float = 0.3,
    min_speech: float = 0.25,
    padding: float = 0.1,
    max_segment: float = 15.0,
) -> List[Segment]:
    """Speech segments from a frame-energy track.

    A frame is speech when it is above ``floor_db`` and within ``dynamic_range_db`` of the
    loudest frame (so the threshold follows the recording level). Pauses shorter than
    ``min_silence`` are bridged, blips shorter than ``min_speech`` dropped, segments padded
    by ``padding`` and split to at most ``max_segment`` seconds.
    """
    if energies_db.size == 0:
        return []
    threshold = max(floor_db, float(energies_db.max()) - dynamic_range_db)
    runs = _runs(energies_db > threshold)
    merged: List[List[int]] = []
    for run in runs:
        if merged and (run[0] - merged[-1][1]) * hop_seconds < min_silence:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    total = len(energies_db) * hop_seconds
    segments = []
    for first, last in merged:
        if (last - first) * hop_seconds < min_speech:
            continue
        start = max(0.0, first * hop_seconds - padding)
        end = min(total, last * hop_seconds + padding)
        segments.extend(_split_long(Segment(start, end), max_segment))
    return segments


def fixed_windows(duration: float, window: float, overlap: float = 0.0) -> List[Segment]:
    """Windows of ``window`` seconds every ``window - overlap`` seconds; the last one ends at ``duration``."""
    if window <= 0 or not 0 <= overlap < window:
        raise ValueError(f"need window > 0 and 0 <= overlap < window, got window={window}, overlap={overlap}")
    if duration <= window:
        return [Segment(0.0, duration)] if duration > 0 else []
    step = window - overlap
    starts = list(np.arange(0.0, duration - window, step)) + [duration - window]
    return [Segment(float(s), float(s) + window) for s in starts]


def file_segments(path, fixed_window: Optional[float] = None, overlap: float = 0.0, **vad_conf) -> List[Segment]:
    """Segments of an audio file: fixed windows when ``fixed_window`` is set, else energy VAD."""
    frames, fs = audio.info(path)
    if fixed_window:
        return fixed_windows(frames / fs, fixed_window, overlap)
    return energy_vad(frame_energies_db(audio.stream_mono(path), fs), **vad_conf)
