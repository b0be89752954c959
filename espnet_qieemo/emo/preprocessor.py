"""Data preprocessing for the emotion task: label names -> class indices, audio as float32, and
training-time audio augmentation."""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

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


def parse_db_range(value: str, key: str) -> Tuple[float, float]:
    """ESPnet's ``"low_high"`` dB range (``"13_15"``, ``"-10_6"``); a single number is both ends."""
    try:
        ends = [float(v) for v in str(value).replace("_-", " -").replace("_", " ").split()]
    except ValueError:
        ends = []
    if len(ends) == 1:
        ends *= 2
    if len(ends) != 2 or ends[0] > ends[1]:
        raise ValueError(f"{key}: expected '<low>_<high>' in dB with low <= high (e.g. '-10_6'), got {value!r}")
    return ends[0], ends[1]


def check_audio_list(scp: str, key: str) -> None:
    """Every audio file an augmentation list names exists, so training cannot stop mid-epoch."""
    path = Path(scp)
    if not path.is_file():
        raise ValueError(f"{key} {scp}: not found; expected a list of audio files (one '[<id>] <path>' per line)")
    lines = [line.strip().split(None, 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries = [parts[-1] for parts in lines]  # ESPnet's rule: the path is the rest of the line
    if not entries:
        raise ValueError(f"{key} {scp}: empty; expected a list of audio files (one '[<id>] <path>' per line)")
    missing = [e for e in entries if not Path(e).is_file()]
    if missing:
        raise ValueError(f"{key} {scp}: {len(missing)} listed file(s) not found, e.g. {missing[0]}")


class SpeechAugmentation:
    """Training-time audio augmentation: ESPnet's own (``CommonPreprocessor``'s reverberation with
    ``rir_scp`` and additive noise with ``noise_scp``; ``DataAugmentation`` effects such as speed
    perturbation or band-limiting with ``data_aug_effects``), then a random gain, which ESPnet
    lacks.

    Emotion corpora are small and each comes from one studio at one level: heard through other
    rooms, noises, bandwidths, speeds and levels, the same emotion stops being told apart by
    the studio it was recorded in.
    """

    def __init__(
        self,
        fs: int = 16000,
        gain_db_range: Optional[str] = None,
        gain_apply_prob: float = 1.0,
        data_aug_effects: Optional[List] = None,
        data_aug_num: Sequence[int] = (1, 1),
        data_aug_prob: float = 0.0,
        **room_options: Any,
    ) -> None:
        from espnet2.layers.augmentation import DataAugmentation
        from espnet2.train.preprocessor import CommonPreprocessor

        for key in ("rir_scp", "noise_scp"):
            if room_options.get(key):
                check_audio_list(room_options[key], f"--{key}")
        if room_options.get("noise_scp"):
            parse_db_range(room_options.get("noise_db_range", "13_15"), "--noise_db_range")
        self.fs = fs
        self.gain_db = None if gain_db_range is None else parse_db_range(gain_db_range, "--gain_db_range")
        self.gain_apply_prob = gain_apply_prob
        has_room = room_options.get("rir_scp") or room_options.get("noise_scp")
        # Two ESPnet parts, not one CommonPreprocessor: it hands the effects a (T, 1) array after
        # reverberation or noise, which DataAugmentation rejects.
        self.room = CommonPreprocessor(train=True, fs=fs, **room_options) if has_room else None
        self.effects = DataAugmentation(data_aug_effects, apply_n=list(data_aug_num)) if data_aug_effects else None
        self.effects_prob = data_aug_prob

    def __call__(self, uid: str, speech: np.ndarray) -> np.ndarray:
        if self.room is not None:
            speech = np.asarray(self.room(uid, {"speech": speech})["speech"]).reshape(-1)
        if self.effects is not None and self.effects_prob >= np.random.random():
            speech = self.effects(speech, self.fs)
        if self.gain_db is not None and self.gain_apply_prob >= np.random.random():
            speech = speech * 10.0 ** (np.random.uniform(*self.gain_db) / 20.0)
            peak = np.max(np.abs(speech)) if speech.size else 0.0
            if peak > 1.0:  # louder than full scale would clip when stored: scale back instead
                speech = speech / peak
        return np.asarray(speech, dtype=np.float32)


class EmotionPreprocessor:
    """Maps the ``emotion`` text of each utterance to its index in ``labels``, and augments the
    audio of training data when given a ``SpeechAugmentation``.

    An unknown label is an error naming the utterance and the allowed labels, rather than
    a silently dropped or mis-numbered example.
    """

    def __init__(
        self,
        labels: Sequence[str],
        speech_name: str = "speech",
        emotion_name: str = "emotion",
        augmentation: Optional[SpeechAugmentation] = None,
    ) -> None:
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.speech_name = speech_name
        self.emotion_name = emotion_name
        self.augmentation = augmentation

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
            if self.augmentation is not None:
                out[self.speech_name] = self.augmentation(uid, out[self.speech_name])
        label: Optional[Union[str, np.ndarray]] = out.get(self.emotion_name)
        if isinstance(label, str):
            out[self.emotion_name] = np.array([self.label_index(uid, label)], dtype=np.int64)
        return out
