"""``qieemo``: emotion recognition on audio files with a packed model (``emo_pack`` zip).

    qieemo predict a.wav b.flac some_dir/ [--model MODEL.zip|MODEL.onnx] [--format jsonl|csv] [--batch-size N]
        [--min-confidence P]
    qieemo timeline conversation.wav [--model MODEL.zip|MODEL.onnx] [--fixed-window S --overlap S] [--plot PNG]
    qieemo export model.onnx [--model MODEL.zip] [--quantize int8]

A ``.onnx`` model (written by ``qieemo export``) runs on ONNX Runtime (``--backend onnx``, chosen
by default for ``.onnx`` files); that path imports neither torch nor ESPnet. A zip may also be
given unpacked (a model-hub folder, ``meta.yaml`` at its root). A zip is checked before it is
unpacked and its weights are read as data only: a hostile one is refused, saying why.

Without ``--model`` the default model is used: ``$QIEEMO_MODEL`` if set, else the 4-class
EmoDB model shipped with the repository (egs2/emodb_qieemo/emo1/pretrained/; German acted
speech, neu / hap / ang / sad: read its README before trusting it on other speech).

``predict`` writes one record per file; a file that cannot be classified gets a record
with its ``error`` and the exit status is 1. Progress goes to stderr, records to stdout
(or ``--output``, written atomically). Probabilities are calibrated where the model stores a
temperature (``espnet_qieemo.bin.emo_calibrate``); ``--min-confidence P`` answers ``unknown``
where the top probability is below P, keeping the probabilities in the record.
"""

import argparse
import csv
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterator, List, Optional, Sequence

from espnet_qieemo.utils.fileio import atomic_write
from espnet_qieemo.utils.progress import Progress

if TYPE_CHECKING:  # torch and ESPnet load only when a command runs, so --help is instant
    from espnet_qieemo.bin.emo_common import BatchedClassifier, Record


class RecordWriter:
    """jsonl or csv rows: identification columns, label, one probability per class, text, error."""

    def __init__(self, stream: IO, fmt: str, labels: Sequence[str], id_fields: Sequence[str], with_text: bool):
        self.stream, self.fmt, self.labels = stream, fmt, list(labels)
        self.fields = [*id_fields, "label", *(f"p_{c}" for c in labels), *(["text"] if with_text else []), "error"]
        self.with_text = with_text
        if fmt == "csv":
            self.csv = csv.DictWriter(stream, fieldnames=self.fields)
            self.csv.writeheader()

    def write(self, ids: dict, record: "Record") -> None:
        if self.fmt == "jsonl":
            row = dict(ids)
            if record.result is None:
                row["error"] = record.error
            else:
                row.update(label=record.result.label, probs=record.result.probs)
                if self.with_text:
                    row["text"] = record.result.text
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        row = dict(ids, error=record.error or "")
        if record.result is not None:
            row.update(label=record.result.label, **{f"p_{c}": f"{record.result.probs[c]:.6f}" for c in self.labels})
            if self.with_text:
                row["text"] = record.result.text
        self.csv.writerow(row)


@contextmanager
def open_output(path: Optional[Path]) -> Iterator[IO]:
    if path is None:
        yield sys.stdout
    else:
        with atomic_write(path) as f:
            yield f


# The shipped default model, next to the demo recipe that trained it (editable installs and
# clones; a wheel install names its model with --model or $QIEEMO_MODEL).
SHIPPED_MODEL = (
    Path(__file__).resolve().parents[2]
    / "egs2"
    / "emodb_qieemo"
    / "emo1"
    / "pretrained"
    / "emo_qieemo_multicorpus4.zip"
)


def default_model() -> Path:
    """``$QIEEMO_MODEL`` or the shipped model; a clear error when neither is there."""
    env = os.environ.get("QIEEMO_MODEL")
    path = Path(env) if env else SHIPPED_MODEL
    if not path.exists():
        source = "$QIEEMO_MODEL" if env else "the shipped default model"
        raise FileNotFoundError(f"{source} {path} not found; give a packed model with --model MODEL.zip")
    return path


def _backend(args: argparse.Namespace, model: Path) -> str:
    backend = getattr(args, "backend", "torch")
    if backend == "auto":
        return "onnx" if model.suffix == ".onnx" else "torch"
    if backend == "onnx" and model.suffix != ".onnx":
        raise ValueError(f"--backend onnx runs an .onnx model written by `qieemo export`, not {model}")
    return backend


def _model(args: argparse.Namespace) -> "BatchedClassifier":
    model = args.model or default_model()
    batch_size = getattr(args, "batch_size", 8)
    if _backend(args, model) == "onnx":
        from espnet_qieemo.ort_backend import OnnxSpeech2Emotion

        return OnnxSpeech2Emotion(model, batch_size=batch_size)
    from espnet_qieemo.bin.emo_inference import Speech2Emotion

    return Speech2Emotion.from_pretrained(model, device=args.device, batch_size=batch_size)


def predict(args: argparse.Namespace) -> int:
    from espnet_qieemo.bin.emo_common import UNKNOWN, abstain
    from espnet_qieemo.utils import audio

    s2e = _model(args)
    if args.min_confidence is not None and UNKNOWN in s2e.labels:
        raise ValueError(f"the model has a class named {UNKNOWN!r}, so --min-confidence cannot abstain with it")
    files = list(audio.expand_inputs(args.inputs))
    if not files:
        print("qieemo predict: no audio files found in the given inputs", file=sys.stderr)
        return 1
    failed = 0
    records = s2e.classify_sources(
        s2e.file_sources(files, args.max_seconds), args.with_text, Progress(len(files), "files")
    )
    with open_output(args.output) as out:
        writer = RecordWriter(out, args.format, s2e.labels, ["file"], args.with_text)
        for record in records:
            if record.result is None:
                failed += 1
                print(f"qieemo predict: {record.key}: {record.error}", file=sys.stderr)
            elif args.min_confidence is not None:
                record.result = abstain(record.result, args.min_confidence)
            writer.write({"file": record.key}, record)
    if failed:
        print(f"qieemo predict: {failed} of {len(files)} file(s) failed (see their 'error')", file=sys.stderr)
    return 1 if failed else 0


def timeline(args: argparse.Namespace) -> int:
    from espnet_qieemo.utils import audio, vad

    s2e = _model(args)
    try:
        segments = vad.file_segments(args.audio, args.fixed_window, args.overlap)
    except audio.AudioError as err:
        print(f"qieemo timeline: {args.audio}: {err}", file=sys.stderr)
        return 1
    if not segments:
        print(f"qieemo timeline: {args.audio}: no speech found", file=sys.stderr)
        return 1
    records = s2e.classify_sources(
        s2e.segment_sources(args.audio, segments), args.with_text, Progress(len(segments), "segments")
    )
    classified, done = 0, []
    with open_output(args.output) as out:
        writer = RecordWriter(out, args.format, s2e.labels, ["start", "end"], args.with_text)
        for seg, record in zip(segments, records):
            classified += record.result is not None
            writer.write({"start": round(seg.start, 3), "end": round(seg.end, 3)}, record)
            done.append((seg, record))
    if args.plot is not None and classified:
        from espnet_qieemo.utils.timeline_plot import plot_timeline

        frames, fs = audio.info(args.audio)
        plot_timeline(done, s2e.labels, frames / fs, args.plot, title=Path(args.audio).name)
        print(f"qieemo timeline: wrote {args.plot}", file=sys.stderr)
    return 0 if classified else 1


def export(args: argparse.Namespace) -> int:
    from espnet_qieemo.bin.emo_export import export_onnx

    if args.onnx.suffix != ".onnx":
        raise ValueError(f"the output must end in .onnx, not {args.onnx.name}")
    export_onnx(_model(args), args.onnx, max_seconds=args.max_seconds, opset=args.opset, quantize=args.quantize)
    print(f"qieemo export: wrote {args.onnx}", file=sys.stderr)
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        "-m",
        type=Path,
        default=None,
        help="packed model (zip from espnet_qieemo.bin.emo_pack, or that zip unpacked: a folder with meta.yaml "
        "at its root) or .onnx model; default: $QIEEMO_MODEL, else the shipped 4-class EmoDB model",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (PyTorch backend)")


def _backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=["auto", "torch", "onnx"],
        default="auto",
        help="torch: a packed .zip model or its folder; onnx: an .onnx model from `qieemo export`, on ONNX Runtime, "
        "without torch or ESPnet (CPU); auto: by the model's suffix",
    )


def _records_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    parser.add_argument("--output", "-o", type=Path, help="write records here instead of stdout")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--with-text", action="store_true", help="add the transcript from the same encoder pass (models with ASR heads)"
    )


def confidence(text: str) -> float:
    """A probability in [0, 1], for --min-confidence."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {text!r}")
    return value


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qieemo", description="Speech emotion recognition (Qieemo, ESPnet)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="one record per audio file")
    _common(p)
    p.add_argument("inputs", nargs="+", help="audio files or directories (searched recursively)")
    p.add_argument(
        "--max-seconds", type=float, default=120.0, help="refuse longer files (classify them with `qieemo timeline`)"
    )
    p.add_argument(
        "--min-confidence",
        type=confidence,
        metavar="P",
        help="label 'unknown' where the top (calibrated) probability is below P; the probabilities are kept",
    )
    _records_options(p)
    _backend_option(p)
    p.set_defaults(func=predict)
    t = sub.add_parser("timeline", help="(start, end, label, probabilities) per speech segment of a long file")
    _common(t)
    t.add_argument("audio", type=Path)
    t.add_argument("--fixed-window", type=float, help="seconds; fixed windows instead of voice activity")
    t.add_argument("--overlap", type=float, default=0.0, help="seconds of overlap between fixed windows")
    t.add_argument("--plot", type=Path, help="also draw the class probabilities over time into this image (.png, .pdf)")
    _records_options(t)
    _backend_option(t)
    t.set_defaults(func=timeline)
    e = sub.add_parser(
        "export", help="self-contained ONNX model (log-mel features -> class probabilities) for `--backend onnx`"
    )
    _common(e)
    e.add_argument("onnx", type=Path)
    e.add_argument(
        "--max-seconds", type=float, default=64.0, help="longest utterance the model takes (its last length bucket)"
    )
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--quantize", choices=["int8"], help="int8 weights (ONNX Runtime dynamic quantization)")
    e.set_defaults(func=export)
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    args = get_parser().parse_args(argv)
    if getattr(args, "batch_size", 1) < 1:
        sys.exit("qieemo: --batch-size must be >= 1")
    try:
        status = args.func(args)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"qieemo {args.command}: {err}")
    sys.exit(status)


if __name__ == "__main__":
    main()
