"""WA, UA and WF1 from a confusion matrix: one definition for training, scoring and baselines.

Numpy only, so scoring scripts can use it without importing torch or ESPnet.
"""

from typing import Dict, Sequence

import numpy as np

METRICS = ("WA", "UA", "WF1")


def confusion_matrix(refs: Sequence[int], hyps: Sequence[int], num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = reference class, columns = predicted class."""
    flat = np.asarray(refs, dtype=np.int64) * num_classes + np.asarray(hyps, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def metrics_from_confusion(cm: np.ndarray) -> Dict[str, float]:
    """WA, UA, WF1 in percent from a (C, C[+1]) confusion matrix (rows = reference).

    An extra last column counts references with no prediction: they are wrong for every metric.
    UA averages the recall of the classes that occur; NaN when nothing was counted.
    """
    cm = np.asarray(cm, dtype=np.float64)
    n_cls = cm.shape[0]
    support = cm.sum(axis=1)
    total = support.sum()
    if total == 0:
        return {name: float("nan") for name in METRICS}
    correct = np.diag(cm[:, :n_cls])
    predicted = cm[:, :n_cls].sum(axis=0)
    present = support > 0
    recall = np.divide(correct, support, out=np.zeros(n_cls), where=present)
    precision = np.divide(correct, predicted, out=np.zeros(n_cls), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n_cls), where=denom > 0)
    return {
        "WA": float(100.0 * correct.sum() / total),
        "UA": float(100.0 * recall[present].mean()),
        "WF1": float(100.0 * (f1 * support).sum() / total),
    }
