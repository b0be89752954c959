#!/usr/bin/env python3
"""Emotion inference: ``Speech2Emotion`` (Python API) and ESPnet-style batch decoding.

ESPnet's classification inference runs one utterance at a time; here utterances are
padded into batches (results equal the one-by-one results), audio of any rate and
channel count is accepted, and a file that cannot be read becomes an error record
instead of stopping the run. Output directory, as the recipe expects::

    emotion   utt label
    score     utt p_1 ... p_C      (class probabilities, in the order of `labels`)
    labels    one label per line
    errors    utt reason           (empty when every file was classified)
    text      utt transcript       (only with --with_text)
"""

import argparse
import logging
import multiprocessing
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import humanfriendly
import numpy as np
import torch

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.tasks.emotion_builder import load_emotion_model
from espnet_qieemo.utils import audio
from espnet_qieemo.utils.fileio import atomic_write
from espnet_qieemo.utils.padding_guard import PaddingGuard
from espnet_qieemo.utils.progress import Progress
from espnet_qieemo.utils.vad import Segment

with no_nltk_downloads():
    from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError, check_short_utt
    from espnet2.main_funcs.pack_funcs import unpack
    from espnet2.utils import config_argparse
    from espnet2.utils.types import str2bool, str2triple_str, str_or_none

Waveform = Union[np.ndarray, torch.Tensor]
Source = Tuple[str, Callable[[], np.ndarray]]  # (key, loader returning model-ready audio)


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


class Speech2Emotion:
    """Speech -> emotion label and class probabilities (and transcript), batched.

    Examples:
        >>> s2e = Speech2Emotion.from_pretrained("emodb_qieemo.zip")
        >>> s2e(wav, fs=22050).label
        >>> [r.probs for r in s2e([wav1, wav2, wav3], fs=16000)]
    """

    def __init__(
        self,
        train_config: Union[str, Path],
        model_file: Union[str, Path],
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 8,
    ) -> None:
        with no_nltk_downloads():
            model, train_args = load_emotion_model(train_config, model_file, device)
        self.model = model.to(dtype=getattr(torch, dtype)).eval()
        self.train_args = train_args
        self.device, self.dtype, self.batch_size = device, getattr(torch, dtype), batch_size
        self.labels: List[str] = list(model.labels)
        frontend_conf = getattr(train_args, "frontend_conf", None) or {}
        self.fs = int(humanfriendly.parse_size(str(frontend_conf.get("fs", audio.TARGET_FS))))
        self.min_samples = min_input_samples(self.model)

    @classmethod
    def from_pretrained(cls, packed: Union[str, Path], **kwargs) -> "Speech2Emotion":
        """Build from a zip written by ``emo_pack``; the unpacked files are only needed while building."""
        packed = Path(packed)
        if not packed.is_file():
            raise FileNotFoundError(f"packed model not found: {packed}")
        with tempfile.TemporaryDirectory(prefix="qieemo_model_") as tmp:
            try:
                files = unpack(packed, tmp, use_cache=False)
            except Exception as err:  # zipfile/tarfile/yaml each raise their own types
                raise ValueError(f"{packed} is not a model packed by emo_pack ({err})") from None
            missing = {"train_config", "model_file"} - set(files)
            if missing:
                raise ValueError(f"{packed} lacks {sorted(missing)}; pack it with espnet_qieemo.bin.emo_pack")
            return cls(files["train_config"], files["model_file"], **kwargs)

    @property
    def can_transcribe(self) -> bool:
        return getattr(self.model, "ctc", None) is not None and getattr(self.model, "token_list", None) is not None

    def prepare(self, signal: Waveform, fs: Optional[int] = None) -> np.ndarray:
        """Any rate / channel layout -> model-ready mono float32; raises ``audio.AudioError``."""
        if isinstance(signal, torch.Tensor):
            signal = signal.detach().cpu().numpy()
        return self.check_length(audio.prepare(np.asarray(signal), fs or self.fs, self.fs))

    def check_length(self, wave: np.ndarray) -> np.ndarray:
        """Refuse, in words, audio shorter than the model's frontend and subsampling can take."""
        if len(wave) < self.min_samples:
            raise audio.AudioError(
                f"too short: {len(wave) / self.fs:.3f} s of audio, at least {self.min_samples / self.fs:.3f} s needed"
            )
        return wave

    def __call__(
        self, speech: Union[Waveform, Sequence[Waveform]], fs: Optional[int] = None, with_text: bool = False
    ) -> Union[EmotionResult, List[EmotionResult]]:
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

    @torch.no_grad()
    def classify_batch(self, waves: Sequence[np.ndarray], with_text: bool = False) -> List[EmotionResult]:
        """Model-ready waveforms -> results, in one padded forward pass."""
        if with_text and not self.can_transcribe:
            raise ValueError("this model has no ASR heads (train it with asr_init and keep_asr_heads: true)")
        lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
        speech = torch.zeros(len(waves), int(lengths.max()), dtype=self.dtype)
        for i, w in enumerate(waves):
            speech[i, : len(w)] = torch.from_numpy(w)
        speech, lengths = speech.to(self.device), lengths.to(self.device)
        texts: List[Optional[str]] = [None] * len(waves)
        with PaddingGuard(self.model.encoder):
            enc, enc_lens, blocks = self.model.encode_blocks(speech, lengths)
        logits = self.model.classify_blocks(enc, enc_lens, blocks)
        if with_text:
            texts = self._ctc_greedy(enc, enc_lens)
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return [
            EmotionResult(self.labels[int(p.argmax())], dict(zip(self.labels, map(float, p))), t)
            for p, t in zip(probs, texts)
        ]

    def _ctc_greedy(self, enc: torch.Tensor, enc_lens: torch.Tensor) -> List[str]:
        """Best path of the CTC head: collapse repeats, drop blanks (id 0)."""
        best = self.model.ctc.argmax(enc).cpu()
        texts = []
        for ids, n in zip(best, enc_lens.cpu()):
            ids = torch.unique_consecutive(ids[: int(n)])
            texts.append(detokenize([self.model.token_list[i] for i in ids.tolist() if i != 0]))
        return texts

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
        except (RuntimeError, TooShortUttError) as err:
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
        return audio.load(path, self.fs)

    def segment_sources(self, path: Path, segments: Sequence[Segment]) -> Iterator[Source]:
        """One source per segment, each read from disk only when its batch is formed."""
        _, fs = audio.info(path)
        for seg in segments:
            key = f"{seg.start:.2f}-{seg.end:.2f}"
            yield key, lambda s=seg: audio.read_span(path, int(s.start * fs), int(s.end * fs), self.fs)


def min_input_samples(model: torch.nn.Module) -> int:
    """Fewest samples the model classifies: STFT reflect-padding needs more than n_fft / 2
    samples, and the encoder's input subsampling (ESPnet's ``check_short_utt``) a minimum of
    frames. A model without a waveform frontend takes features, and then only the frames count."""
    embed = getattr(model.encoder, "embed", None)
    short, min_frames = check_short_utt(embed, 0) if embed is not None else (False, -1)
    min_frames = min_frames if short else 1
    frontend = model.frontend
    hop, n_fft = getattr(frontend, "hop_length", None), getattr(getattr(frontend, "stft", None), "n_fft", None)
    if hop is None or n_fft is None:
        return min_frames
    return max((min_frames - 1) * hop, n_fft // 2 + 1)


def scp_sources(wav_scp: Path, fs: int, keys: Optional[set] = None) -> List[Source]:
    """``utt path`` lines (or Kaldi ``cmd |`` / ``ark:offset``) -> sources, in file order."""
    sources = []
    with open(wav_scp, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{wav_scp}:{lineno}: expected '<utt> <path>', got {line.strip()!r}")
            key, value = parts
            if keys is None or key in keys:
                sources.append((key, lambda v=value: _load_scp_value(v, fs)))
    return sources


def _load_scp_value(value: str, fs: int) -> np.ndarray:
    if value.endswith("|") or ".ark:" in value:
        import kaldiio

        rate, signal = kaldiio.load_mat(value)
        return audio.prepare(signal, rate, fs)
    return audio.load(value, fs)


def write_outputs(records: Sequence[Record], labels: Sequence[str], output_dir: Path, with_text: bool) -> None:
    """The recipe's files, each written to a temp file and renamed."""
    output_dir.mkdir(parents=True, exist_ok=True)
    done = [r for r in records if r.result is not None]
    with atomic_write(output_dir / "labels") as f:
        f.writelines(f"{label}\n" for label in labels)
    with atomic_write(output_dir / "emotion") as f:
        f.writelines(f"{r.key} {r.result.label}\n" for r in done)
    with atomic_write(output_dir / "score") as f:
        f.writelines(f"{r.key} " + " ".join(f"{r.result.probs[c]:.6f}" for c in labels) + "\n" for r in done)
    with atomic_write(output_dir / "errors") as f:
        f.writelines(f"{r.key} {r.error}\n" for r in records if r.result is None)
    if with_text:
        with atomic_write(output_dir / "text") as f:
            f.writelines(f"{r.key} {r.result.text}\n" for r in done)


def _build(model_args: dict) -> Speech2Emotion:
    """From ``model_tag`` (packed zip) if given, else from ``train_config`` + ``model_file``."""
    kwargs = dict(model_args)
    packed, config, model_file = kwargs.pop("model_tag"), kwargs.pop("train_config"), kwargs.pop("model_file")
    if packed:
        return Speech2Emotion.from_pretrained(packed, **kwargs)
    return Speech2Emotion(config, model_file, **kwargs)


def _run_shard(model_args: dict, wav_scp: Path, keys: List[str], with_text: bool, threads: int) -> List[Record]:
    """Worker for --nj: its own model, its own slice of the keys."""
    torch.set_num_threads(threads)
    s2e = _build(model_args)
    return list(s2e.classify_sources(scp_sources(wav_scp, s2e.fs, set(keys)), with_text))


def _read_keys(wav_scp: Path, key_file: Optional[str]) -> List[str]:
    source = Path(key_file) if key_file else wav_scp
    with open(source, encoding="utf-8") as f:
        return [line.split(maxsplit=1)[0] for line in f if line.strip()]


def inference(
    output_dir: str,
    data_path_and_name_and_type: Sequence[Tuple[str, str, str]],
    key_file: Optional[str],
    train_config: Optional[str],
    model_file: Optional[str],
    model_tag: Optional[str],
    batch_size: int,
    ngpu: int,
    nj: int,
    dtype: str,
    with_text: bool,
) -> int:
    """Decode a wav.scp into ``output_dir``; returns the number of inputs that failed."""
    speech = [p for p, name, _ in data_path_and_name_and_type if name == "speech"]
    if len(speech) != 1:
        raise ValueError("--data_path_and_name_and_type needs exactly one '<wav.scp>,speech,<type>' entry")
    wav_scp = Path(speech[0])
    keys = _read_keys(wav_scp, key_file)
    model_args = dict(
        model_tag=model_tag,
        train_config=train_config,
        model_file=model_file,
        device="cuda" if ngpu > 0 else "cpu",
        dtype=dtype,
        batch_size=batch_size,
    )
    if nj <= 1:
        s2e = _build(model_args)
        labels = s2e.labels
        progress = Progress(len(keys), "utterances")
        records = list(s2e.classify_sources(scp_sources(wav_scp, s2e.fs, set(keys)), with_text, progress))
    else:
        shards = [keys[i::nj] for i in range(nj)]
        threads = max(1, torch.get_num_threads() // nj)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(nj) as pool:
            parts = pool.starmap(_run_shard, [(model_args, wav_scp, s, with_text, threads) for s in shards])
        by_key = {r.key: r for part in parts for r in part}
        records = [by_key[k] for k in keys if k in by_key]
        labels = _build(model_args).labels
    write_outputs(records, labels, Path(output_dir), with_text)
    failed = sum(r.result is None for r in records)
    logging.info(f"{len(records) - failed} classified, {failed} failed -> {output_dir}")
    return failed


def get_parser() -> config_argparse.ArgumentParser:
    parser = config_argparse.ArgumentParser(
        description="Emotion inference", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--log_level",
        type=lambda x: x.upper(),
        default="INFO",
        choices=("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"),
    )
    parser.add_argument("--output_dir", type=str, required=True)
    parser.add_argument("--ngpu", type=int, default=0, help="0: CPU; >0: the first GPU")
    parser.add_argument("--nj", type=int, default=1, help="parallel worker processes (each loads the model)")
    parser.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--data_path_and_name_and_type", type=str2triple_str, required=True, action="append")
    parser.add_argument("--key_file", type=str_or_none)
    parser.add_argument("--train_config", type=str_or_none, help="config.yaml of emo_train")
    parser.add_argument("--model_file", type=str_or_none, help="model .pth of emo_train")
    parser.add_argument("--model_tag", type=str_or_none, help="zip written by emo_pack (instead of config + model)")
    parser.add_argument(
        "--with_text", type=str2bool, default=False, help="also write the CTC transcript (models with ASR heads)"
    )
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=args.log_level, format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    if not args.model_tag and not (args.train_config and args.model_file):
        sys.exit("emo_inference: give --model_tag <packed.zip>, or --train_config and --model_file")
    kwargs = vars(args)
    kwargs.pop("config", None)
    kwargs.pop("log_level")
    failed = inference(**kwargs)
    if failed:
        sys.exit(f"emo_inference: {failed} input(s) failed; reasons in {args.output_dir}/errors")


if __name__ == "__main__":
    main()
