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
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import humanfriendly
import numpy as np
import torch

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.asr.encoder.block_outputs import BlockOutputCollector
from espnet_qieemo.bin.emo_common import (
    BatchedClassifier,
    EmotionResult,
    Record,
    Source,
    detokenize,
    results_from_probs,
)
from espnet_qieemo.emo.calibration import check_temperature, read_temperature
from espnet_qieemo.tasks.emotion_builder import load_emotion_model
from espnet_qieemo.utils import audio, batch_frontend
from espnet_qieemo.utils.fileio import atomic_write
from espnet_qieemo.utils.padding_guard import PaddingGuard
from espnet_qieemo.utils.progress import Progress
from espnet_qieemo.utils.safe_unpack import model_files

with no_nltk_downloads():
    from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError, check_short_utt
    from espnet2.utils import config_argparse
    from espnet2.utils.types import str2bool, str2triple_str, str_or_none

Waveform = Union[np.ndarray, torch.Tensor]
__all__ = ["EmotionResult", "Record", "Source", "Speech2Emotion", "detokenize"]


class Speech2Emotion(BatchedClassifier):
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
        temperature: float = 1.0,
    ) -> None:
        self.temperature = check_temperature(temperature, "Speech2Emotion")  # softmax(logits / T)
        with no_nltk_downloads():
            model, train_args = load_emotion_model(train_config, model_file, device)
        self.model = model.to(dtype=getattr(torch, dtype)).eval()
        self.train_args = train_args
        self.device, self.dtype, self.batch_size = device, getattr(torch, dtype), batch_size
        self.labels: List[str] = list(model.labels)
        frontend_conf = getattr(train_args, "frontend_conf", None) or {}
        self.fs = int(humanfriendly.parse_size(str(frontend_conf.get("fs", audio.TARGET_FS))))
        self.min_samples = min_input_samples(self.model)
        self.batch_frontend = True  # one STFT per batch (False: the model's per-utterance frontend)

    @classmethod
    def from_pretrained(cls, packed: Union[str, Path], **kwargs) -> "Speech2Emotion":
        """Build from a zip written by ``emo_pack``, or that zip unpacked (a model-hub folder,
        ``meta.yaml`` at its root). The archive is checked before anything is unpacked
        (``utils.safe_unpack``); the unpacked files are only needed while building. The model's
        stored temperature (``emo_calibrate``) applies unless ``temperature`` is given; a model
        without one has temperature 1."""
        packed = Path(packed)
        with tempfile.TemporaryDirectory(prefix="qieemo_model_") as tmp:
            files = packed_model_files(packed, tmp)
            try:
                if "calibration" in files:
                    kwargs.setdefault("temperature", read_temperature(files["calibration"]))
                return cls(files["train_config"], files["model_file"], **kwargs)
            except ValueError as err:  # e.g. pickled weights: named as members of the model, not temp files
                raise ValueError(f"{packed}: {str(err).replace(tmp + os.sep, '')}") from None

    model_errors = (RuntimeError, TooShortUttError)

    @property
    def can_transcribe(self) -> bool:
        return getattr(self.model, "ctc", None) is not None and getattr(self.model, "token_list", None) is not None

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
            enc, enc_lens, blocks = self._encode(speech, lengths)
        logits = self.model.classify_blocks(enc, enc_lens, blocks)
        if with_text:
            texts = self._ctc_greedy(enc, enc_lens)
        probs = torch.softmax(logits.float() / self.temperature, dim=-1).cpu().numpy()
        return results_from_probs(probs, self.labels, texts)

    def _encode(self, speech: torch.Tensor, lengths: torch.Tensor):
        """``model.encode_blocks`` (inference), with the log-mel frontend run once for the whole
        batch (``utils.batch_frontend``, equal to the per-utterance features) when it is ESPnet's
        plain one."""
        model = self.model
        if not self.batch_frontend or len(lengths) == 1 or not batch_frontend.supports(model.frontend):
            return model.encode_blocks(speech, lengths)
        feats, feats_lens = batch_frontend.batch_logmel(model.frontend, speech, lengths)
        if model.normalize is not None:
            feats, feats_lens = model.normalize(feats, feats_lens)
        with BlockOutputCollector(model.encoder) as collector:
            enc, enc_lens, _ = model.encoder(feats, feats_lens)
        if isinstance(enc, tuple):
            enc = enc[0]
        return enc, enc_lens, collector.outputs

    def _ctc_greedy(self, enc: torch.Tensor, enc_lens: torch.Tensor) -> List[str]:
        """Best path of the CTC head: collapse repeats, drop blanks (id 0)."""
        best = self.model.ctc.argmax(enc).cpu()
        texts = []
        for ids, n in zip(best, enc_lens.cpu()):
            ids = torch.unique_consecutive(ids[: int(n)])
            texts.append(detokenize([self.model.token_list[i] for i in ids.tolist() if i != 0]))
        return texts


def packed_model_files(packed: Path, workdir: Union[str, Path]) -> Dict[str, str]:
    """``{key: path}`` of a model written by ``emo_pack`` (zip, or that zip unpacked), checked and
    unpacked into ``workdir``: at least ``train_config`` and ``model_file``, maybe ``calibration``."""
    if not packed.exists():
        raise FileNotFoundError(f"packed model not found: {packed}")
    files = model_files(packed, workdir)
    missing = {"train_config", "model_file"} - set(files)
    if missing:
        raise ValueError(f"{packed} lacks {sorted(missing)}; pack it with espnet_qieemo.bin.emo_pack")
    return files


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
    parser.add_argument(
        "--model_tag",
        type=str_or_none,
        help="zip written by emo_pack, or its unpacked folder (instead of config + model)",
    )
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
