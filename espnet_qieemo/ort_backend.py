"""Emotion recognition with a model written by ``qieemo export``, on ONNX Runtime alone.

Nothing here imports torch or ESPnet: the log-mel frontend is computed in numpy
(``LogMelFrontend``, the same arithmetic as ESPnet's ``DefaultFrontend``: centred STFT with
reflection padding, power spectrum, mel matrix, log), audio at other rates is resampled in
numpy (``utils.resample_np``, equal to torchaudio's resampler), and everything after it (feature
normalisation, encoder, fusion, attention, pooling, head, softmax) runs in the ONNX graph.
The exported file carries its own labels, sample rate and frontend constants in its metadata
(key ``qieemo``), so the ``.onnx`` file is the whole deployment. Its probabilities are calibrated
as the PyTorch model's are: the export puts the model's temperature into the graph's softmax.

The numpy work runs with one BLAS thread: after a threaded matrix product, OpenBLAS's idle
threads keep spinning for a while and take the cores ONNX Runtime's next run needs (on the
2-core CPU that run took twice as long: 0.15 s instead of 0.075 s for 10 s of audio).

    >>> s2e = OnnxSpeech2Emotion("emo.onnx")
    >>> s2e(wav, fs=22050).label
"""

import json
from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
from threadpoolctl import ThreadpoolController

from espnet_qieemo.bin.emo_common import BatchedClassifier, EmotionResult, results_from_probs
from espnet_qieemo.utils import audio, resample_np

METADATA_KEY = "qieemo"


class LogMelFrontend:
    """ESPnet's ``DefaultFrontend`` (single channel, no dithering) in numpy, for one utterance."""

    def __init__(self, n_fft: int, hop_length: int, window: Sequence[float], melmat: Sequence[Sequence[float]]):
        self.n_fft, self.hop = int(n_fft), int(hop_length)
        window = np.asarray(window, dtype=np.float64)
        left = (self.n_fft - len(window)) // 2  # torch.stft centres a shorter window in n_fft
        self.window = np.pad(window, (left, self.n_fft - len(window) - left))
        self.melmat = np.asarray(melmat, dtype=np.float64)  # (n_fft // 2 + 1, n_mels)

    @property
    def n_mels(self) -> int:
        return self.melmat.shape[1]

    def frames(self, samples: int) -> int:
        return 1 + samples // self.hop

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        """(samples,) -> (frames, n_mels) float32 log-mel features."""
        half = self.n_fft // 2
        padded = np.pad(np.asarray(wave, dtype=np.float64), (half, half), mode="reflect")
        n = self.frames(len(wave))
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)[:: self.hop][:n]
        spec = np.fft.rfft(frames * self.window, n=self.n_fft, axis=-1)
        power = spec.real**2 + spec.imag**2
        return np.log(np.maximum(power @ self.melmat, 1e-10)).astype(np.float32)


def read_metadata(path: Union[str, Path]) -> dict:
    """The ``qieemo`` metadata of an exported model (labels, fs, frontend, buckets ...)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    raise ValueError(f"{path} was not written by `qieemo export` (no '{METADATA_KEY}' metadata)")


class OnnxSpeech2Emotion(BatchedClassifier):
    """``Speech2Emotion``'s interface on ONNX Runtime: one padded batch per ``classify_batch`` call.

    ``threads``: intra-op threads of the session (0: ONNX Runtime's default, all cores).
    """

    def __init__(self, onnx_file: Union[str, Path], batch_size: int = 8, threads: int = 0) -> None:
        import onnxruntime as ort

        onnx_file = Path(onnx_file)
        if not onnx_file.is_file():
            raise FileNotFoundError(f"ONNX model not found: {onnx_file}")
        if onnx_file.suffix != ".onnx":
            raise ValueError(f"{onnx_file} is not an .onnx file; write one with `qieemo export`")
        meta = read_metadata(onnx_file)
        self.meta = meta
        self.labels: List[str] = list(meta["labels"])
        self.fs, self.min_samples = int(meta["fs"]), int(meta["min_samples"])
        self.max_samples: Optional[int] = meta.get("max_samples")
        # the calibration temperature, as Speech2Emotion's; the graph's softmax applies it (1: an uncalibrated
        # model, or one exported before calibration was stored)
        self.temperature = float(meta.get("temperature", 1.0))
        self.batch_size = batch_size
        fe = meta["frontend"]
        self.frontend = LogMelFrontend(fe["n_fft"], fe["hop_length"], fe["window"], fe["melmat"])
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._threadpools = ThreadpoolController()

    def _one_blas_thread(self):
        return self._threadpools.limit(limits=1, user_api="blas")

    def prepare_signal(self, signal: np.ndarray, fs: int) -> np.ndarray:
        """``audio.prepare`` with the numpy resampler (equal to torchaudio's) instead of torchaudio."""
        if signal.dtype.kind in "iu":
            signal = signal.astype(np.float32) / float(np.iinfo(signal.dtype).max + 1)
        mono = audio.to_mono(signal.astype(np.float32, copy=False))
        audio.validate(mono)
        with self._one_blas_thread():
            return resample_np.resample(np.ascontiguousarray(mono), fs, self.fs)

    def check_length(self, wave: np.ndarray) -> np.ndarray:
        wave = super().check_length(wave)
        if self.max_samples is not None and len(wave) > self.max_samples:
            raise ValueError(
                f"{len(wave) / self.fs:.1f} s is longer than the {self.max_samples / self.fs:g} s the exported "
                "model takes; use `qieemo timeline`, or export with a larger --max-seconds"
            )
        return wave

    def features(self, waves: Sequence[np.ndarray]):
        """Padded (B, frames, n_mels) features and their lengths (B,)."""
        with self._one_blas_thread():
            feats = [self.frontend(w) for w in waves]
        lengths = np.array([len(f) for f in feats], dtype=np.int64)
        batch = np.zeros((len(feats), int(lengths.max()), self.frontend.n_mels), dtype=np.float32)
        for i, f in enumerate(feats):
            batch[i, : len(f)] = f
        return batch, lengths

    def classify_batch(self, waves: Sequence[np.ndarray], with_text: bool = False) -> List[EmotionResult]:
        if with_text:
            raise ValueError("the ONNX backend has no ASR heads; use the PyTorch backend for --with-text")
        for w in waves:
            self.check_length(w)
        feats, lengths = self.features(waves)
        probs = self.session.run(["probs"], {"feats": feats, "feats_lengths": lengths})[0]
        return results_from_probs(probs, self.labels)
