"""The leave-one-corpus-out table: UA per held-out corpus of each recipe of the multi-corpus
model against eGeMAPS + linear SVM on the same folds, ECE before / after calibration, and the
recipe with the best mean held-out UA.

Every number is recomputed from the runs' outputs: ``emo_inference``'s ``emotion`` + ``labels``
(``<exp>/fold<k>/inference_valid.ua.ave/test``), the SVM's (same files) and the calibration
file ``emo_calibrate`` wrote (``<exp>/fold<k>/calibration.yaml``: the temperature fitted on the
fold's validation part, and the held-out corpus scored before and after, under ``evaluated``).

Usage (from the recipe dir): ``python -m local.loco_results --heldout data_loco/corpora/heldout
--fold_dir 'dump/loco/fold{fold}' --system aug 'exp/loco/emo_aug/fold{fold}' [--system ...]
--svm 'exp/loco/egemaps_svm/fold{fold}/test' --choice exp/loco/choice --out RESULTS_loco.md
[--readme ../../../README.md --readme pretrained/README.md]`` (``--readme``: the tables, without
the heading, between the markers ``<!-- loco-results:begin -->`` and ``<!-- loco-results:end -->``)
"""

import argparse
import sys
from pathlib import Path
from typing import List, Sequence, Tuple

import yaml
from pyscripts.emo_score import score_fold
from pyscripts.kaldi_dir import DataDirError, read_table

from espnet_qieemo.utils.fileio import atomic_write

from .demo_results import replace_block

BEGIN = "<!-- loco-results:begin -->"
END = "<!-- loco-results:end -->"
INFERENCE = "inference_valid.ua.ave/test"
MARGIN = 5.0  # the target: each held-out corpus at least this far above the SVM (UA points)


def held_out(path: Path) -> List[Tuple[str, str]]:
    """(fold number, corpus) in fold order, from the ``heldout`` table of local/emo_corpora.py."""
    pairs = [(fold.removeprefix("fold"), corpus) for fold, corpus in read_table(path).items()]
    if not pairs or not all(k.isdigit() for k, _ in pairs):
        raise DataDirError(f"{path}: expected 'fold<k> <corpus>' lines (local/emo_corpora.py)")
    return sorted(pairs, key=lambda p: int(p[0]))


def ua(fold_dir: str, hyp_pattern: str, fold: str) -> float:
    hyp = Path(hyp_pattern.format(fold=fold))
    if not (hyp / "labels").is_file():
        raise DataDirError(f"{hyp}: no inference output (expected 'labels' and 'emotion'); run the system first")
    return score_fold(f"fold{fold}", Path(fold_dir.format(fold=fold)), hyp).metrics["UA"]


def ece(exp_pattern: str, fold: str) -> Tuple[float, float, float]:
    """(temperature, ECE before, ECE after) on the held-out corpus."""
    path = Path(exp_pattern.format(fold=fold)) / "calibration.yaml"
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        (scores,) = content["evaluated"].values()
        return float(content["temperature"]), float(scores["ece_before"]), float(scores["ece_after"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as err:
        raise DataDirError(f"{path}: expected emo_calibrate's file with one 'evaluated' set ({err})") from err


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def render(args) -> Tuple[str, str]:
    folds = held_out(args.heldout)
    svm = {k: ua(args.fold_dir, args.svm, k) for k, _ in folds}
    systems = {
        name: {k: ua(args.fold_dir, f"{pattern}/{INFERENCE}", k) for k, _ in folds} for name, pattern in args.system
    }
    calib = {name: {k: ece(pattern, k) for k, _ in folds} for name, pattern in args.system}
    choice = max(systems, key=lambda n: (mean(list(systems[n].values())), -list(systems).index(n)))
    names = list(systems)
    lines = [
        "# Leave-one-corpus-out: the multi-corpus model on a corpus it never heard",
        "",
        "Each row trains on the other corpora (speaker-disjoint validation from them) and tests on all of the "
        "held-out one; four classes (neu hap ang sad), UA in %. eGeMAPS + linear SVM: the same folds "
        f"(`local/egemaps_svm.py`). Target: every held-out corpus at least {MARGIN:.0f} UA points above the SVM. "
        f"The recipe with the best mean held-out UA (**{choice}**) is the one the shipped model uses: these "
        "corpora are its selection data, so its row is a selection score, not an untouched test.",
        "",
        "| held-out corpus | "
        + " | ".join(f"{n} UA" for n in names)
        + " | eGeMAPS + SVM UA | "
        + " | ".join(f"{n} - SVM" for n in names)
        + " |",
        "|---|" + "---|" * (2 * len(names) + 1),
    ]
    for k, corpus in folds:
        cells = [f"{systems[n][k]:.1f}" for n in names] + [f"{svm[k]:.1f}"]
        cells += [
            f"{systems[n][k] - svm[k]:+.1f}" + ("" if systems[n][k] - svm[k] >= MARGIN else " (missed)") for n in names
        ]
        lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    cells = [f"{mean(list(systems[n].values())):.1f}" for n in names] + [f"{mean(list(svm.values())):.1f}"]
    cells += [f"{mean([systems[n][k] - svm[k] for k, _ in folds]):+.1f}" for n in names]
    lines += ["| mean | " + " | ".join(cells) + " |", ""]
    lines += [
        "Calibration: a temperature fitted on each fold's validation part (training corpora), then the expected "
        "calibration error (15 bins) on the held-out corpus before and after it (target: 0.05 or less after).",
        "",
        "| held-out corpus | " + " | ".join(f"{n}: T | {n}: ECE before | {n}: ECE after" for n in names) + " |",
        "|---|" + "---|---|---|" * len(names),
    ]
    for k, corpus in folds:
        cells = [f"{t:.2f} | {b:.3f} | {a:.3f}" for t, b, a in (calib[n][k] for n in names)]
        lines.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", choice


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heldout", type=Path, required=True, help="fold<k> <corpus> table (local/emo_corpora.py)")
    parser.add_argument("--fold_dir", required=True, help="fold data dir pattern with {fold} (holds test/emotion)")
    parser.add_argument(
        "--system",
        nargs=2,
        action="append",
        required=True,
        metavar=("NAME", "EXP_PATTERN"),
        help="a recipe: its name and exp dir pattern with {fold}",
    )
    parser.add_argument("--svm", required=True, help="eGeMAPS + SVM output dir pattern with {fold}")
    parser.add_argument("--choice", type=Path, help="write the name of the best recipe here")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--readme", type=Path, action="append", default=[], help="markdown whose marked block is replaced"
    )
    args = parser.parse_args(argv)
    try:
        text, choice = render(args)
    except DataDirError as err:
        sys.exit(f"ERROR: leave-one-corpus-out table: {err}")
    with atomic_write(args.out) as f:
        f.write(text)
    if args.choice:
        with atomic_write(args.choice) as f:
            f.write(choice + "\n")
    for readme in args.readme:
        block = text.split("\n", 2)[2].rstrip("\n").split("\n")  # without the heading
        updated = replace_block(readme.read_text(encoding="utf-8"), block, BEGIN, END)
        with atomic_write(readme) as f:
            f.write(updated)
    print(text)


if __name__ == "__main__":
    main()
