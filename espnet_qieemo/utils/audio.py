"""Audio input for inference: any file format, sample rate or channel count.

Models are trained on 16 kHz mono, while users bring files of every rate and layout, so
everything that reaches a model passes through :func:`prepare`: down-mix, resample,
and reject signals a model cannot say anything meaningful about (empty, NaN, silent)
with an :class:`AudioError` that states why.
"""

import struct
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import numpy as np
import soundfile

TARGET_FS = 16000
# Peak below -80 dBFS: nothing a microphone picked up is that quiet, so treat it as silence.
SILENCE_PEAK = 1e-4
AUDIO_SUFFIXES = {
    ".wav",
    ".flac",
    ".ogg",
    ".mp3",
    ".sph",
    ".nist",
    ".aiff",
    ".aif",
    ".au",
    ".w64",
    ".rf64",
    ".caf",
    ".opus",
}


class AudioError(ValueError):
    """Input that cannot be classified; ``str(err)`` is the reason, for error records."""


def to_mono(signal: np.ndarray) -> np.ndarray:
    """Average channels; ``signal`` is (samples,) or (samples, channels)."""
    if signal.ndim == 1:
        return signal
    if signal.ndim != 2:
        raise AudioError(f"expected (samples,) or (samples, channels), got shape {signal.shape}")
    return signal.mean(axis=1)


def resample(signal: np.ndarray, fs: int, target_fs: int = TARGET_FS) -> np.ndarray:
    """Band-limited (sinc) resampling of a mono signal."""
    if fs == target_fs:
        return signal
    import torch  # only here: reading and checking audio needs neither torch nor torchaudio
    import torchaudio

    out = torchaudio.functional.resample(torch.from_numpy(signal), int(fs), int(target_fs))
    return out.numpy()


def validate(signal: np.ndarray) -> None:
    """Raise :class:`AudioError` for signals with no usable content."""
    if signal.size == 0:
        raise AudioError("zero-length signal (no samples)")
    if not np.isfinite(signal).all():
        raise AudioError("signal contains NaN or infinite values")
    peak = float(np.abs(signal).max())
    if peak < SILENCE_PEAK:
        raise AudioError(f"all-silent signal (peak amplitude {peak:.2g} < {SILENCE_PEAK:g})")


def prepare(signal: np.ndarray, fs: int, target_fs: int = TARGET_FS) -> np.ndarray:
    """Down-mix, validate and resample to the model rate; returns float32 (samples,)."""
    signal = np.asarray(signal)
    if signal.dtype.kind in "iu":
        # Integer PCM (e.g. from kaldiio): scale to [-1, 1) like soundfile's float reads.
        signal = signal.astype(np.float32) / float(np.iinfo(signal.dtype).max + 1)
    mono = to_mono(signal.astype(np.float32, copy=False))
    validate(mono)
    return resample(np.ascontiguousarray(mono), fs, target_fs).astype(np.float32, copy=False)


def _open_error(path: Path, err: Exception) -> AudioError:
    if not path.exists():
        return AudioError("file not found")
    if path.stat().st_size == 0:
        return AudioError("empty file (0 bytes)")
    return AudioError(f"not a readable audio file ({err})")


def wav_shortfall(path: Path) -> Optional[Tuple[int, int]]:
    """(bytes the RIFF header announces for the audio, bytes the file holds) when a WAV file
    was cut short, else None. libsndfile silently reads what is there, so a half-copied
    file would otherwise pass as a shorter recording. Streaming writers that leave the
    size as 0 or 0xFFFFFFFF announce nothing and are not flagged."""
    total = path.stat().st_size
    with open(path, "rb") as f:
        if f.read(12)[:4] != b"RIFF":
            return None
        while True:
            header = f.read(8)
            if len(header) < 8:
                return None
            chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
            if chunk == b"data":
                held = total - f.tell()
                return (size, held) if size not in (0, 0xFFFFFFFF) and held < size else None
            f.seek(size + (size & 1), 1)


def read(path: Union[str, Path]) -> Tuple[np.ndarray, int]:
    """Read a whole file as float32 (samples, channels) and its sample rate."""
    path = Path(path)
    try:
        signal, fs = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise _open_error(path, err) from None
    shortfall = wav_shortfall(path)
    if shortfall is not None:
        raise AudioError(
            f"truncated WAV file: its header announces {shortfall[0]} bytes of audio, the file holds {shortfall[1]}"
        )
    return signal, int(fs)


def load(path: Union[str, Path], target_fs: int = TARGET_FS) -> np.ndarray:
    """Read, down-mix and resample one file for the model; raises :class:`AudioError`."""
    signal, fs = read(path)
    return prepare(signal, fs, target_fs)


def info(path: Union[str, Path]) -> Tuple[int, int]:
    """(number of frames, sample rate) without reading the samples."""
    path = Path(path)
    try:
        meta = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise _open_error(path, err) from None
    return int(meta.frames), int(meta.samplerate)


def read_span(path: Union[str, Path], start: int, stop: int, target_fs: int = TARGET_FS) -> np.ndarray:
    """Read only frames ``[start, stop)`` of a file, prepared for the model."""
    with soundfile.SoundFile(str(path)) as f:
        f.seek(start)
        signal = f.read(stop - start, dtype="float32", always_2d=True)
        return prepare(signal, f.samplerate, target_fs)


def stream_mono(path: Union[str, Path], block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Yield consecutive mono blocks at the file's own rate, so long files never sit in memory."""
    with soundfile.SoundFile(str(path)) as f:
        frames = max(1, int(block_seconds * f.samplerate))
        for block in f.blocks(blocksize=frames, dtype="float32", always_2d=True):
            yield to_mono(block)


def expand_inputs(inputs) -> Iterator[Path]:
    """Files as given, and the audio files (by suffix, sorted) inside any given directory."""
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        else:
            yield path
