"""Band-limited resampling in numpy, equal (to float rounding) to ``torchaudio.functional.resample``
with its defaults (Hann-windowed sinc, 6 zero crossings, roll-off 0.99), so the ONNX Runtime
backend prepares audio exactly as the PyTorch path does without importing torch.

Both rates are divided by their gcd: ``up`` output samples are made from every ``down``
input samples by ``up`` filters (one per output phase) of ``2 * width + down`` taps.
"""

import math

import numpy as np

ZERO_CROSSINGS = 6
ROLLOFF = 0.99
MAX_FILTER_TAPS = 1 << 24  # 128 MiB of float64 filters (e.g. 44.1 or 48 kHz: under 0.1 MiB)


def sinc_filters(down: int, up: int) -> "tuple[np.ndarray, int]":
    """(up, 2 * width + down) filter bank and ``width`` (taps either side of a block)."""
    cutoff = min(down, up) * ROLLOFF
    width = math.ceil(ZERO_CROSSINGS * down / cutoff)
    taps = np.arange(-width, width + down, dtype=np.float64) / down
    phases = -np.arange(up, dtype=np.float64)[:, None] / up
    t = np.clip((phases + taps[None, :]) * cutoff, -ZERO_CROSSINGS, ZERO_CROSSINGS)
    window = np.cos(t * math.pi / ZERO_CROSSINGS / 2) ** 2
    arg = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(arg == 0, 1.0, np.sin(arg) / arg)
    return sinc * window * (cutoff / down), width


def resample(signal: np.ndarray, fs: int, target_fs: int) -> np.ndarray:
    """Mono float signal at ``fs`` -> float32 at ``target_fs`` (``ceil(len * target / fs)`` samples)."""
    if fs == target_fs:
        return np.asarray(signal, dtype=np.float32)
    g = math.gcd(int(fs), int(target_fs))
    down, up = int(fs) // g, int(target_fs) // g
    if up * (2 * math.ceil(ZERO_CROSSINGS * down / (min(down, up) * ROLLOFF)) + down) > MAX_FILTER_TAPS:
        raise ValueError(f"resampling {fs} Hz to {target_fs} Hz needs a filter bank too large to build here")
    filters, width = sinc_filters(down, up)
    n = len(signal)
    padded = np.pad(np.asarray(signal, dtype=np.float64), (width, width + down))
    blocks = np.lib.stride_tricks.sliding_window_view(padded, filters.shape[1])[::down]
    out = (blocks @ filters.T).reshape(-1)
    return out[: math.ceil(up * n / down)].astype(np.float32)
