"""What every emotion backend shares, without torch or ESPnet: result records, input checks,
batching, and lazy file / segment sources.

``Speech2Emotion`` (PyTorch) and ``OnnxSpeech2Emotion`` (ONNX Runtime, ``espnet_qieemo.ort_backend``)
both derive from ``BatchedClassifier`` and differ only in ``classify_batch``.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile

from espnet_qieemo.utils import audio
from espnet_qieemo.utils.progress import Progress
from espnet_qieemo.utils.vad import Segment

Source = Tuple[str, Callable[[], np.ndarray]]  # (key, loader returning model-ready audio)
UNKNOWN = "unknown"  # the label of an abstention (top probability below --min-confidence)


@dataclass
class EmotionResult:
    label: str
    probs: Dict[str, float]  # label -> probability, in the model's class order
    text: Optional[str] = None  # transcript, when asked for and the model has ASR heads


@dataclass
class Record:
    """One input's outcome: a result, or the reason it has none."""

    key: str
    result: Optional[EmotionResult] = None
    error: Optional[str] = None
    extra: dict = field(default_factory=dict)  # e.g. segment start/end


def detokenize(tokens: Sequence[str]) -> str:
    """ESPnet char (``<space>``) and sentencepiece (``▁``) tokens back to words."""
    text = "".join(t for t in tokens if not (t.startswith("<") and t.endswith(">")) or t == "<space>")
    return " ".join(text.replace("<space>", " ").replace("\u2581", " ").split())


def results_from_probs(probs: np.ndarray, labels: Sequence[str], texts=None) -> List[EmotionResult]:
    texts = texts if texts is not None else [None] * len(probs)
    return [EmotionResult(labels[int(p.argmax())], dict(zip(labels, map(float, p))), t) for p, t in zip(probs, texts)]


def abstain(result: EmotionResult, min_confidence: float) -> EmotionResult:
    """``result`` labelled ``unknown`` when its top probability is below ``min_confidence``; the
    probabilities (and text) are kept, so a caller can still see what the model leaned to."""
    if max(result.probs.values()) >= min_confidence:
        return result
    return EmotionResult(UNKNOWN, result.probs, result.text)


class BatchedClassifier:
    """Input preparation, batching and error records; subclasses set ``labels``, ``fs``,
    ``min_samples``, ``batch_size`` and implement ``classify_batch``."""

    labels: List[str]
    fs: int
    min_samples: int
    batch_size: int
    model_errors: Tuple[type, ...] = (RuntimeError,)  # a batch failing with these is retried item by item

    @property
    def can_transcribe(self) -> bool:
        return False

    def classify_batch(self, waves: Sequence[np.ndarray], with_text: bool = False) -> List[EmotionResult]:
        raise NotImplementedError

    def prepare(self, signal, fs: Optional[int] = None) -> np.ndarray:
        """Any rate / channel layout -> model-ready mono float32; raises ``audio.AudioError``."""
        if hasattr(signal, "detach"):  # a torch tensor (torch itself is not imported here)
            signal = signal.detach().cpu().numpy()
        return self.check_length(self.prepare_signal(np.asarray(signal), fs or self.fs))

    def prepare_signal(self, signal: np.ndarray, fs: int) -> np.ndarray:
        """``audio.prepare`` (down-mix, checks, resampling to the model's rate)."""
        return audio.prepare(signal, fs, self.fs)

    def check_length(self, wave: np.ndarray) -> np.ndarray:
        """Refuse, in words, audio shorter than the model's frontend and subsampling can take."""
        if len(wave) < self.min_samples:
            raise audio.AudioError(
                f"too short: {len(wave) / self.fs:.3f} s of audio, at least {self.min_samples / self.fs:.3f} s needed"
            )
        return wave

    def __call__(self, speech, fs: Optional[int] = None, with_text: bool = False):
        """One waveform -> one result; a list -> a list (any mix of lengths, batched internally).

        A waveform is (samples,) or (samples, channels) at rate ``fs`` (default: the model's).
        """
        single = not isinstance(speech, (list, tuple))
        items = [speech] if single else list(speech)
        waves = []
        for i, item in enumerate(items):
            try:
                waves.append(self.prepare(item, fs))
            except audio.AudioError as err:
                raise audio.AudioError(f"input {i}: {err}") from None
        results = []
        for start in range(0, len(waves), self.batch_size):
            results += self.classify_batch(waves[start : start + self.batch_size], with_text)
        return results[0] if single else results

    def classify_sources(
        self, sources: Iterable[Source], with_text: bool = False, progress: Optional[Progress] = None
    ) -> Iterator[Record]:
        """Load and classify lazily, batch by batch, in input order; bad inputs become error records."""
        pending: List[Tuple[str, Optional[np.ndarray], Optional[str]]] = []
        for key, load in sources:
            try:
                pending.append((key, self.check_length(load()), None))
            except (audio.AudioError, OSError, ValueError) as err:
                pending.append((key, None, " ".join(str(err).split())))
            if sum(w is not None for _, w, _ in pending) >= self.batch_size:
                yield from self._flush(pending, with_text, progress)
                pending = []
        yield from self._flush(pending, with_text, progress)

    def _flush(self, pending, with_text: bool, progress: Optional[Progress]) -> Iterator[Record]:
        results = iter(self._classify_robust([w for _, w, _ in pending if w is not None], with_text))
        for key, wave, error in pending:
            outcome = next(results) if wave is not None else error
            if isinstance(outcome, EmotionResult):
                yield Record(key, result=outcome)
            else:
                yield Record(key, error=outcome)
        if progress is not None and pending:
            progress.update(len(pending))

    def _classify_robust(self, waves: List[np.ndarray], with_text: bool) -> List[Union[EmotionResult, str]]:
        """A batch the model rejects (e.g. a clip too short to subsample) is retried item by item."""
        if not waves:
            return []
        try:
            return self.classify_batch(waves, with_text)
        except self.model_errors as err:
            if len(waves) == 1:
                logging.warning(f"model failed on one input: {err}")
                reason = " ".join(str(err).split())
                return [f"model failed on this input ({len(waves[0]) / self.fs:.3f} s of audio): {reason}"]
            return [r for w in waves for r in self._classify_robust([w], with_text)]

    def file_sources(self, paths: Iterable[Path], max_seconds: Optional[float] = None) -> Iterator[Source]:
        """One source per file; files longer than ``max_seconds`` are refused (use the timeline)."""
        for path in paths:
            yield str(path), lambda p=path: self._load_file(p, max_seconds)

    def _load_file(self, path: Path, max_seconds: Optional[float]) -> np.ndarray:
        frames, fs = audio.info(path)
        if max_seconds is not None and frames > max_seconds * fs:
            raise audio.AudioError(f"{frames / fs:.1f} s is longer than {max_seconds:g} s; use `qieemo timeline`")
        return self.prepare_signal(*audio.read(path))

    def segment_sources(self, path: Path, segments: Sequence[Segment]) -> Iterator[Source]:
        """One source per segment, each read from disk only when its batch is formed."""
        _, fs = audio.info(path)
        for seg in segments:
            key = f"{seg.start:.2f}-{seg.end:.2f}"
            yield key, lambda s=seg: self._read_span(path, int(s.start * fs), int(s.end * fs))

    def _read_span(self, path: Path, start: int, stop: int) -> np.ndarray:
        with soundfile.SoundFile(str(path)) as f:
            f.seek(start)
            return self.prepare_signal(f.read(stop - start, dtype="float32", always_2d=True), f.samplerate)
