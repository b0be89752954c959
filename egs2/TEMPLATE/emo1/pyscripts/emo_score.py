"""Score emotion inference over folds: WA, UA, WF1 per fold and mean +- std, confusion matrix.

Inputs per fold: its data dir (``train``/``valid``/``test`` with ``emotion`` files, for the
references and the data counts) and its inference output dir (``emotion``, ``labels`` and
``errors``, as written by ``espnet_qieemo.bin.emo_inference``). An utterance of the test set
that has no prediction (listed in ``errors`` or missing) counts as wrong, in a ``<none>``
column of the confusion matrix. Writes ``RESULTS.md``, ``metrics.json``, ``confusion.txt``
and ``confusion.png`` into ``--out_dir`` (all replaced together); everything is recomputable
from those inputs.

WA = overall accuracy; UA = mean of per-class recalls; WF1 = support-weighted mean of the
per-class F1. Std over folds is the population std (ddof=0).

Usage (from a recipe dir): ``python -m pyscripts.emo_score --fold fold1 dump/raw/fold1 exp/emo/fold1/inference
--fold fold2 ... --config conf/train_emo.yaml --out_dir exp/emo/scores``
"""

import argparse
import hashlib
import json
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import yaml

from espnet_qieemo.emo.metrics import METRICS, metrics_from_confusion
from pyscripts.kaldi_dir import DataDirError, read_labels, read_table, staged_dir, write_lines

NONE = "<none>"


@dataclass
class FoldResult:
    name: str
    labels: List[str]
    confusion: np.ndarray  # (C, C + 1): rows = reference, last column = no prediction
    counts: Dict[str, int]
    errors: int

    @property
    def metrics(self) -> Dict[str, float]:
        return metrics_from_confusion(self.confusion)


def score_fold(name: str, data_dir: Path, hyp_dir: Path) -> FoldResult:
    labels_file = hyp_dir / "labels"
    labels = read_labels(labels_file)
    ref = read_table(data_dir / "test" / "emotion")
    if not ref:
        raise DataDirError(f"{data_dir}/test/emotion: no test utterances")
    hyp = read_table(hyp_dir / "emotion") if (hyp_dir / "emotion").is_file() else {}
    index = {label: i for i, label in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels) + 1), dtype=np.int64)
    for utt, label in ref.items():
        if label not in index:
            raise DataDirError(f"{data_dir}/test/emotion: {utt} has label {label!r}, not in {labels_file} {labels}")
        pred = hyp.get(utt)
        if pred is not None and pred not in index:
            raise DataDirError(f"{hyp_dir}/emotion: {utt} predicted {pred!r}, not in {labels_file} {labels}")
        cm[index[label], index[pred] if pred is not None else len(labels)] += 1
    errors_file = hyp_dir / "errors"
    errors = len(read_table(errors_file, allow_empty_value=True)) if errors_file.is_file() else 0
    counts = {
        part: len(read_table(data_dir / part / "emotion"))
        for part in ("train", "valid", "test")
        if (data_dir / part / "emotion").is_file()
    }
    return FoldResult(name, labels, cm, counts, errors)


# A class predicted for fewer than this share of its own test utterances is "almost never"
# predicted; recalls further apart than RECALL_SPREAD (points) are a lopsided classifier.
RARE_SHARE = 0.2
RECALL_SPREAD = 60.0


def collapse_warnings(fold: FoldResult) -> List[str]:
    """Plain-text warnings for a fold whose predictions ignore a class or favour some."""
    n = len(fold.labels)
    cm = fold.confusion[:, :n]
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    warnings = []
    for label, sup, pred in zip(fold.labels, support, predicted):
        if sup == 0:
            continue
        if pred == 0:
            warnings.append(f"{fold.name}: class '{label}' is never predicted ({sup} test utterances)")
        elif pred < RARE_SHARE * sup:
            warnings.append(
                f"{fold.name}: class '{label}' is almost never predicted ({pred} predictions for {sup} test utterances)"
            )
    recalls = {label: 100.0 * cm[i, i] / support[i] for i, label in enumerate(fold.labels) if support[i] > 0}
    if recalls:
        low, high = min(recalls, key=recalls.get), max(recalls, key=recalls.get)
        if recalls[high] - recalls[low] > RECALL_SPREAD:
            warnings.append(
                f"{fold.name}: per-class recall spreads widely: '{low}' {recalls[low]:.1f} % vs "
                f"'{high}' {recalls[high]:.1f} %"
            )
    return warnings


def summarize(folds: Sequence[FoldResult]) -> Dict[str, Dict[str, float]]:
    """Mean and population std over folds of each metric."""
    values = {m: np.array([f.metrics[m] for f in folds]) for m in METRICS}
    return {m: {"mean": float(v.mean()), "std": float(v.std())} for m, v in values.items()}


def confusion_text(labels: Sequence[str], cm: np.ndarray) -> List[str]:
    """Markdown table: rows = reference, columns = prediction (+ no prediction when any)."""
    cols = list(labels) + ([NONE] if cm[:, -1].any() else [])
    lines = ["| ref \\ hyp | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for i, label in enumerate(labels):
        lines.append(f"| {label} | " + " | ".join(str(int(x)) for x in cm[i, : len(cols)]) + " |")
    return lines


def plot_confusion(labels: Sequence[str], cm: np.ndarray, path: Path) -> None:
    """Row-normalised confusion matrix (recall per reference class) with counts, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    square = cm[:, : len(labels)]
    rates = square / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{int(square[i, j])}\n{100 * rates[i, j]:.0f}%",
                ha="center",
                va="center",
                color="white" if rates[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_title("confusion over all test folds")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def config_lines(configs: Sequence[Path]) -> List[str]:
    lines = []
    for path in configs:
        text = path.read_text()
        conf = yaml.safe_load(text) or {}
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        lines += [
            f"- `{path}` (sha256 {digest}, seed {conf.get('seed', 'n/a')})",
            "",
            "<details><summary>config</summary>",
            "",
            "```yaml",
            text.rstrip(),
            "```",
            "",
            "</details>",
        ]
    return lines


def results_md(
    folds: Sequence[FoldResult], summary: Dict, configs: Sequence[Path], title: str, command: str
) -> List[str]:
    labels = folds[0].labels
    lines = [
        f"# {title}",
        "",
        f"Generated by `{command}`",
        "",
        "WA = accuracy, UA = mean per-class recall, WF1 = support-weighted F1 (percent). "
        "A test utterance without a prediction counts as wrong. Std over folds: population (ddof=0).",
        "",
        "| fold | train | valid | test | no prediction | WA | UA | WF1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in folds:
        m = f.metrics
        lines.append(
            f"| {f.name} | {f.counts.get('train', 0)} | {f.counts.get('valid', 0)} | "
            f"{f.counts.get('test', 0)} | {int(f.confusion[:, -1].sum())} | "
            + " | ".join(f"{m[k]:.2f}" for k in METRICS)
            + " |"
        )
    lines.append(
        f"| mean +- std ({len(folds)} folds) | | | | | "
        + " | ".join(f"{summary[k]['mean']:.2f} +- {summary[k]['std']:.2f}" for k in METRICS)
        + " |"
    )
    warnings = [w for f in folds for w in collapse_warnings(f)]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- WARNING: {w}" for w in warnings]
    total = sum(f.confusion for f in folds)
    lines += ["", "## Confusion matrix (all test folds; rows = reference)", ""] + confusion_text(labels, total)
    lines += [
        "",
        "![confusion matrix](confusion.png)",
        "",
        "## Test class counts",
        "",
        "| fold | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    lines += [f"| {f.name} | " + " | ".join(str(int(x)) for x in f.confusion.sum(axis=1)) + " |" for f in folds]
    if configs:
        lines += ["", "## Configs", ""] + config_lines(configs)
    return lines


def score(fold_args: Sequence[Sequence[str]], configs: Sequence[Path], out_dir: Path, title: str, command: str) -> Dict:
    folds = [score_fold(name, Path(d), Path(h)) for name, d, h in fold_args]
    if any(f.labels != folds[0].labels for f in folds):
        raise DataDirError(
            "folds disagree on the class order in their labels files: "
            + "; ".join(f"{f.name}: {f.labels}" for f in folds)
        )
    summary = summarize(folds)
    warnings = [w for f in folds for w in collapse_warnings(f)]
    for w in warnings:
        logging.warning(w)
    result = {
        "labels": folds[0].labels,
        "warnings": warnings,
        "folds": {
            f.name: {**f.metrics, "counts": f.counts, "errors": f.errors, "confusion": f.confusion.tolist()}
            for f in folds
        },
        "summary": summary,
    }
    total = sum(f.confusion for f in folds)
    with staged_dir(out_dir) as staging:  # all four files or none: a failed run keeps the previous scores
        write_lines(staging / "metrics.json", [json.dumps(result, indent=2)])
        write_lines(staging / "confusion.txt", confusion_text(folds[0].labels, total))
        plot_confusion(folds[0].labels, total, staging / "confusion.png")
        write_lines(staging / "RESULTS.md", results_md(folds, summary, configs, title, command))
    return result


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--fold",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "DATA_DIR", "HYP_DIR"),
        help="fold name, its data dir (train/valid/test) and its inference output dir",
    )
    parser.add_argument("--config", type=Path, action="append", default=[], help="configs to record (repeatable)")
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--title", default="Emotion recognition results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    command = "python -m pyscripts.emo_score " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        result = score(args.fold, args.config, args.out_dir, args.title, command)
    except DataDirError as err:
        sys.exit(f"ERROR: scoring: {err}")
    s = result["summary"]
    print(" ".join(f"{m} {s[m]['mean']:.2f} +- {s[m]['std']:.2f}" for m in METRICS), f"-> {args.out_dir}/RESULTS.md")


if __name__ == "__main__":
    main()
