"""Temperature scaling and expected calibration error (ECE), numpy only.

A classifier's softmax probabilities are often over-confident on speech unlike its training
data. Temperature scaling divides the logits by one scalar T > 0 fitted on validation data
(minimum negative log-likelihood): the ranking of the classes, hence every label and accuracy
figure, stays the same, only the probabilities change. The fitted T is stored in a packed
model as ``calibration.yaml`` (``write_calibration`` / ``read_temperature``), and both backends
apply it (``Speech2Emotion``; an ONNX export bakes it into its graph).

Log-probabilities serve as logits: they differ from the logits by a per-row constant, which
softmax ignores, so a model's probability output is enough to fit T.
"""

import math
from pathlib import Path
from typing import Mapping, Tuple, Union

import numpy as np
import yaml

from espnet_qieemo.utils.fileio import atomic_write

ECE_BINS = 15
TEMPERATURE_BOUNDS = (0.05, 20.0)
CALIBRATION_FILE = "calibration.yaml"


def _checked(logits: np.ndarray, targets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    logits, targets = np.asarray(logits, dtype=np.float64), np.asarray(targets)
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[0] != targets.shape[0]:
        raise ValueError(f"expected (N, C) scores and N targets, N >= 1; got {logits.shape} and {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer) or targets.min() < 0 or targets.max() >= logits.shape[1]:
        raise ValueError(f"targets must be class indices in [0, {logits.shape[1]}), got {targets[:5]} ...")
    if not np.isfinite(logits).all():
        raise ValueError("scores must be finite (clip log-probabilities of 0 before fitting)")
    return logits, targets


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def tempered(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T), row by row."""
    return np.exp(log_softmax(np.asarray(logits, dtype=np.float64) / temperature))


def log_probs(probs: np.ndarray) -> np.ndarray:
    """Probabilities as finite logits (a probability that underflowed to 0 becomes the smallest float)."""
    return np.log(np.maximum(np.asarray(probs, dtype=np.float64), np.finfo(np.float64).tiny))


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the targets under softmax(logits / T)."""
    return _nll(*_checked(logits, targets), temperature)


def _nll(logits: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    return float(-log_softmax(logits / temperature)[np.arange(len(targets)), targets].mean())


def fit_temperature(
    logits: np.ndarray, targets: np.ndarray, bounds: Tuple[float, float] = TEMPERATURE_BOUNDS, tol: float = 1e-6
) -> float:
    """T minimising :func:`nll`, by golden-section search over log T within ``bounds``.

    The NLL is convex in 1/T, hence unimodal in log T, so the search cannot stop at a false
    minimum. Where the data are perfectly separated the optimum is at the lower bound.
    """
    logits, targets = _checked(logits, targets)
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = _nll(logits, targets, math.exp(a)), _nll(logits, targets, math.exp(b))
    while hi - lo > tol:
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = _nll(logits, targets, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = _nll(logits, targets, math.exp(b))
    return math.exp((lo + hi) / 2)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """ECE (a fraction, not percent): predictions binned by confidence (top probability) into
    ``n_bins`` equal-width bins (i/M, (i+1)/M]; the support-weighted mean over bins of
    |accuracy - mean confidence|."""
    probs, targets = _checked(probs, targets)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == targets).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, correct, n_bins) - np.bincount(bins, confidence, n_bins))
    return float(gap.sum() / count.sum())


def check_temperature(value: object, where: str) -> float:
    """A positive finite number, else a ValueError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: temperature must be a positive finite number, got {value!r}")
    return float(value)


def write_calibration(path: Union[str, Path], temperature: float, report: Mapping[str, object]) -> Path:
    """``temperature`` plus what it was fitted on (``report``), as YAML, atomically."""
    content = {"temperature": check_temperature(temperature, str(path)), **report}
    with atomic_write(path) as f:
        yaml.safe_dump(content, f, sort_keys=False)
    return Path(path)


def read_temperature(path: Union[str, Path]) -> float:
    """The ``temperature`` of a calibration file; errors name the file and the key."""
    with open(path, encoding="utf-8") as f:
        content = yaml.safe_load(f)
    if not isinstance(content, dict) or "temperature" not in content:
        raise ValueError(f"{path}: expected a YAML mapping with a 'temperature' key (written by emo_calibrate)")
    return check_temperature(content["temperature"], f"{path}: key 'temperature'")
