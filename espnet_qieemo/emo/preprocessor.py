"""Data preprocessing for the emotion task: label names -> class indices, audio as float32."""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np


def read_label_list(path: Union[str, Path]) -> List[str]:
    """One label per line; blank lines are skipped, duplicates are an error."""
    labels = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return check_labels([label for label in labels if label], source=str(path))


def check_labels(labels: Sequence[str], source: str) -> List[str]:
    labels = list(labels)
    if len(labels) < 2:
        raise ValueError(f"{source}: need at least 2 emotion labels, got {labels}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"{source}: duplicated labels {duplicates}")
    return labels


def read_emotions(emotion_file: Union[str, Path], labels: Sequence[str]) -> List[Tuple[str, str]]:
    """(utt, label) pairs of an ``emotion`` file (``<utt> <label>`` lines), in file order; a
    malformed line or a label outside ``labels`` is an error naming the line."""
    pairs = []
    for lineno, line in enumerate(Path(emotion_file).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"{emotion_file}:{lineno}: expected '<utt_id> <label>', got {line!r}")
        if parts[1] not in labels:
            raise ValueError(
                f"{emotion_file}:{lineno}: utterance {parts[0]!r}: emotion label {parts[1]!r} is not in "
                f"the label list {list(labels)}"
            )
        pairs.append((parts[0], parts[1]))
    return pairs


def balanced_class_weights(emotion_file: Union[str, Path], labels: Sequence[str]) -> List[float]:
    """Weights N / (K * n_k) from a training set's ``emotion`` file (``<utt> <label>`` lines).

    Each class then carries the same total weight in the loss, so a minority class cannot be
    ignored at no cost. A class without training examples is an error: no weight can fix it.
    """
    counts = {label: 0 for label in labels}
    for _, label in read_emotions(emotion_file, labels):
        counts[label] += 1
    empty = [label for label, n in counts.items() if n == 0]
    if empty:
        raise ValueError(
            f"{emotion_file}: no training utterance of class(es) {empty}; class_weights: balanced "
            "needs every class in the training data"
        )
    total = sum(counts.values())
    return [round(total / (len(counts) * counts[label]), 6) for label in labels]


class EmotionPreprocessor:
    """Maps the ``emotion`` text of each utterance to its index in ``labels``.

    An unknown label is an error naming the utterance and the allowed labels, rather than
    a silently dropped or mis-numbered example.
    """

    def __init__(
        self,
        labels: Sequence[str],
        speech_name: str = "speech",
        emotion_name: str = "emotion",
    ) -> None:
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.speech_name = speech_name
        self.emotion_name = emotion_name

    def label_index(self, uid: str, label: str) -> int:
        label = label.strip()
        if label not in self.index:
            raise ValueError(
                f"utterance {uid!r}: emotion label {label!r} is not in the label list "
                f"{self.labels} (fix the data's `{self.emotion_name}` file or the label list)"
            )
        return self.index[label]

    def __call__(self, uid: str, data: Dict[str, Union[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        out = dict(data)
        if self.speech_name in out:
            out[self.speech_name] = np.asarray(out[self.speech_name], dtype=np.float32)
        label: Optional[Union[str, np.ndarray]] = out.get(self.emotion_name)
        if isinstance(label, str):
            out[self.emotion_name] = np.array([self.label_index(uid, label)], dtype=np.int64)
        return out
