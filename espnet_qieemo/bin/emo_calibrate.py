"""Fit a calibration temperature on a validation set and store it with the model.

    python -m espnet_qieemo.bin.emo_calibrate --model_tag exp/emo/packed/fold1.zip \\
        --data_dir dump/raw/fold1/valid --outpath exp/emo/packed/fold1.zip
    python -m espnet_qieemo.bin.emo_calibrate --train_config exp/emo/fold1/config.yaml \\
        --model_file exp/emo/fold1/valid.ua.ave.pth --data_dir dump/raw/fold1/valid \\
        --eval_dir dump/raw/fold1/test --output_file exp/emo/fold1/calibration.yaml

The model classifies every labelled utterance of ``--data_dir`` (a Kaldi data dir: ``wav.scp``
and ``emotion``) once at temperature 1 (a temperature the model already stores is ignored, so
recalibrating starts afresh), and T minimises the negative log-likelihood of the labels
(``espnet_qieemo.emo.calibration``). ``--outpath`` packs the model with its ``calibration.yaml``
(as ``emo_pack --calibration`` does; it may be the ``--model_tag`` zip itself); ``--output_file``
writes that file alone; without either it only reports. Printed on stdout: utterances, accuracy,
NLL and ECE (15 bins) before and after calibration, for ``--data_dir`` and each ``--eval_dir``
(scored with the fitted T, never fitted on; their scores are also stored, under ``evaluated``,
in the calibration file). Labels and accuracy do not change with T.
"""

import argparse
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_qieemo.bin.emo_inference import Speech2Emotion, packed_model_files, scp_sources
from espnet_qieemo.bin.emo_pack import pack_emotion_model
from espnet_qieemo.emo.calibration import (
    CALIBRATION_FILE,
    ECE_BINS,
    expected_calibration_error,
    fit_temperature,
    log_probs,
    nll,
    tempered,
    write_calibration,
)
from espnet_qieemo.emo.preprocessor import read_emotions
from espnet_qieemo.utils.progress import Progress


@dataclass
class Scores:
    """A data dir's classifier scores at temperature 1 and its labels."""

    data_dir: Path
    logits: np.ndarray  # (N, C) log-probabilities
    targets: np.ndarray  # (N,) class indices


def score_dir(s2e: Speech2Emotion, data_dir: Path) -> Scores:
    """Classify the labelled utterances of ``data_dir``; files that fail are left out with a warning."""
    emotions = dict(read_emotions(data_dir / "emotion", s2e.labels))
    sources = scp_sources(data_dir / "wav.scp", s2e.fs, set(emotions))
    rows: List[List[float]] = []
    targets: List[int] = []
    for record in s2e.classify_sources(sources, progress=Progress(len(sources), "utterances")):
        if record.result is None:
            logging.warning(f"{data_dir}: {record.key} left out: {record.error}")
            continue
        rows.append([record.result.probs[c] for c in s2e.labels])
        targets.append(s2e.labels.index(emotions[record.key]))
    if len(rows) < len(emotions):
        logging.warning(f"{data_dir}: {len(emotions) - len(rows)} of {len(emotions)} labelled utterances not scored")
    if not rows:
        raise ValueError(f"{data_dir}: no utterance both in wav.scp and in emotion could be classified")
    return Scores(data_dir, log_probs(np.array(rows)), np.array(targets))


def summary(scores: Scores, temperature: float) -> Dict[str, float]:
    """Utterances, accuracy and NLL / ECE before and after calibration (plain floats, for YAML)."""
    logits, targets = scores.logits, scores.targets
    return {
        "utterances": len(targets),
        "accuracy": round(float((logits.argmax(axis=1) == targets).mean()), 6),
        "nll_before": round(nll(logits, targets), 6),
        "nll_after": round(nll(logits, targets, temperature), 6),
        "ece_before": round(expected_calibration_error(tempered(logits, 1.0), targets), 6),
        "ece_after": round(expected_calibration_error(tempered(logits, temperature), targets), 6),
    }


def table(rows: Sequence[Tuple[str, Dict[str, float]]], temperature: float) -> str:
    lines = [
        f"temperature: {temperature:.4f}",
        f"| set | utterances | accuracy | NLL before | NLL after | ECE before | ECE after ({ECE_BINS} bins) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['utterances']} | {100 * s['accuracy']:.1f} | {s['nll_before']:.4f} | {s['nll_after']:.4f} "
            f"| {s['ece_before']:.4f} | {s['ece_after']:.4f} |"
        )
    return "\n".join(lines)


def model_paths(args: argparse.Namespace, workdir: str) -> Tuple[str, str]:
    """(config, weights): given, or from the unpacked ``--model_tag``."""
    if args.model_tag:
        files = packed_model_files(Path(args.model_tag), workdir)
        return files["train_config"], files["model_file"]
    if not (args.train_config and args.model_file):
        raise ValueError("give --model_tag <packed.zip>, or --train_config and --model_file")
    return args.train_config, args.model_file


def calibrate(args: argparse.Namespace) -> float:
    """Fit, report, write; returns the temperature."""
    with tempfile.TemporaryDirectory(prefix="qieemo_calibrate_") as tmp:
        config, model_file = model_paths(args, tmp)
        device = "cuda" if args.ngpu > 0 else "cpu"
        s2e = Speech2Emotion(config, model_file, device=device, batch_size=args.batch_size, temperature=1.0)
        fit = score_dir(s2e, args.data_dir)
        temperature = fit_temperature(fit.logits, fit.targets)
        rows = [(f"{args.data_dir} (fitted)", summary(fit, temperature))]
        rows += [(str(d), summary(score_dir(s2e, d), temperature)) for d in args.eval_dir]
        print(table(rows, temperature))
        report = {"fitted_on": str(args.data_dir), "ece_bins": ECE_BINS, **rows[0][1]}
        if args.eval_dir:  # the held-out sets' scores, for tables read by other tools
            report["evaluated"] = {name: scores for name, scores in rows[1:]}
        calibration = write_calibration(args.output_file or Path(tmp) / CALIBRATION_FILE, temperature, report)
        if args.outpath:
            pack_emotion_model(Path(config), Path(model_file), args.outpath, calibration=calibration)
            logging.info(f"packed with temperature {temperature:.4f}: {args.outpath}")
    return temperature


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--model_tag", help="zip written by emo_pack, or its unpacked folder")
    parser.add_argument("--train_config", help="config.yaml of emo_train (instead of --model_tag)")
    parser.add_argument("--model_file", help="model .pth of emo_train (instead of --model_tag)")
    parser.add_argument("--data_dir", type=Path, required=True, help="validation data dir: wav.scp + emotion")
    parser.add_argument(
        "--eval_dir", type=Path, action="append", default=[], help="data dir only scored before/after (repeatable)"
    )
    parser.add_argument("--outpath", type=Path, help="write the model packed with its calibration here (.zip)")
    parser.add_argument("--output_file", type=Path, help="write calibration.yaml here (for emo_pack --calibration)")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--ngpu", type=int, default=0, help="0: CPU; >0: the first GPU")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        calibrate(args)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"emo_calibrate: {err}")


if __name__ == "__main__":
    main()
