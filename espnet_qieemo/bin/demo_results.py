"""One results table for several systems on the same folds, recomputed from inference outputs.

The EmoDB demo compares the full model, its ablations and a classical baseline; each row is
scored here from the systems' per-fold inference dirs (``emotion`` + ``labels``, as written
by ``emo_inference``) against the folds' test references, with ``emo_score``'s metrics, so
the table can always be regenerated (``--check``) and never holds a number typed in by hand.
Writes ``--out`` (RESULTS.md), the first system's confusion matrix PNG and the probe plot
into ``--images_dir``, and optionally the same table into README.md between the markers
``<!-- emodb-demo-results:begin -->`` and ``<!-- emodb-demo-results:end -->``.

Usage: ``python -m espnet_qieemo.bin.demo_results --fold_dir 'dump/raw/fold{fold}' --folds 1 2 3 4 5
--system "Qieemo (full)" 'exp/emo_x/fold{fold}/inference_valid.ua.best/test' --system ...
[--probe exp/layer_probe/probe.json] --images_dir images --out RESULTS.md [--readme ../../../README.md] [--check]``
"""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from espnet_qieemo.bin.emo_score import METRICS, FoldResult, plot_confusion, score_fold, summarize
from espnet_qieemo.bin.layer_probe import summary as probe_summary
from espnet_qieemo.prep.kaldi_dir import DataDirError, write_lines

BEGIN = "<!-- emodb-demo-results:begin -->"
END = "<!-- emodb-demo-results:end -->"
SEEDS = ("every training config `seed: 0` (ASR and emotion), validation split seed 0, "
         "SVM seed 0, probe heads seed 0")


def score_system(pattern: str, fold_dir: str, folds: Sequence[str]) -> List[FoldResult]:
    results = []
    for k in folds:
        hyp = Path(pattern.format(fold=k))
        if not (hyp / "labels").is_file():
            raise DataDirError(f"{hyp}: no inference output (expected 'labels' and 'emotion'); run the system first")
        results.append(score_fold(f"fold{k}", Path(fold_dir.format(fold=k)), hyp))
    labels = {tuple(r.labels) for r in results}
    if len(labels) != 1:
        raise DataDirError(f"{pattern}: folds disagree on the class order: {sorted(labels)}")
    return results


def fmt(stats: Dict[str, float]) -> str:
    return f"{stats['mean']:.1f} +- {stats['std']:.1f}"


def paired_gap(reference: List[FoldResult], folds: List[FoldResult]) -> str:
    """UA of ``reference`` minus UA of ``folds``, fold by fold: mean +- std and folds won."""
    gaps = np.array([r.metrics["UA"] - f.metrics["UA"] for r, f in zip(reference, folds)])
    return f"{gaps.mean():+.1f} +- {gaps.std():.1f} ({int((gaps > 0).sum())}/{len(gaps)})"


def system_table(systems: Sequence[Tuple[str, List[FoldResult]]]) -> List[str]:
    first_name, first = systems[0]
    lines = [f"| system | WA | UA | WF1 | UA gain of {first_name} (folds won) "
             f"| WA per fold ({', '.join(f.name for f in first)}) |", "|---|---|---|---|---|---|"]
    for name, folds in systems:
        s = summarize(folds)
        gap = "" if folds is first else paired_gap(first, folds)
        per_fold = " / ".join(f"{f.metrics['WA']:.1f}" for f in folds)
        lines.append(f"| {name} | " + " | ".join(fmt(s[m]) for m in METRICS) + f" | {gap} | {per_fold} |")
    lines += ["", f"Mean +- population std over {len(first)} folds, in percent. WA = accuracy, UA = mean per-class "
                  "recall, WF1 = support-weighted F1; a test utterance without a prediction counts as wrong. "
                  f"The gain column is the fold-by-fold UA difference between {first_name} and that row "
                  "(positive: the first row is better), with the number of folds where it is better."]
    return lines


def probe_table(probe: Dict) -> List[str]:
    lines = ["| block | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for row in probe_summary(probe):
        lines.append(f"| {row['block']} | " + " | ".join(f"{row[m][0]:.1f} +- {row[m][1]:.1f}" for m in METRICS) + " |")
    return lines


def section(systems: Sequence[Tuple[str, List[FoldResult]]], probe: Optional[Dict], images: str,
            heading: str) -> List[str]:
    """The results text shared by RESULTS.md and the README (``images`` relative to that file)."""
    first = systems[0][1]
    counts = " / ".join(str(f.counts.get("test", 0)) for f in first)
    lines = [f"{heading} EmoDB demo (`make demo`, CPU)", "",
             f"EmoDB, classes {', '.join(first[0].labels)}; {len(first)} folds, each testing one male + one female "
             f"speaker (test sizes {counts}); validation from the training speakers only. ASR pretraining on FSDD + "
             f"mini AN4. Seeds: {SEEDS}.", ""]
    lines += system_table(systems)
    lines += ["", f"Confusion matrix of {systems[0][0]} (all test folds): ![confusion]({images}/confusion.png)"]
    if probe is not None:
        lines += ["", f"{heading}# Linear probe per ASR encoder block (paper Table I)", "",
                  f"Frozen ASR encoder, mean-pooled block outputs, a 256-dim two-layer head per block and fold "
                  f"(epoch chosen by valid UA, {probe['epochs']} epochs max).", ""]
        lines += probe_table(probe) + ["", f"![probe]({images}/layer_probe.png)"]
    return lines


def replace_block(text: str, block: List[str]) -> str:
    """Put ``block`` between the markers in ``text`` (appended as a new section when absent)."""
    body = "\n".join([BEGIN] + block + [END])
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        return head + body + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n\n" + body + "\n"


def render(args) -> Tuple[Dict[Path, str], List[Tuple[str, List[FoldResult]]]]:
    """The text of every output file and the scored systems, from the inference outputs."""
    systems = [(name, score_system(pattern, args.fold_dir, args.folds)) for name, pattern in args.system]
    probe = json.loads(args.probe.read_text()) if args.probe else None
    images = os.path.relpath(args.images_dir, args.out.parent)
    texts = {args.out: "\n".join(section(systems, probe, images, "#")) + "\n"}
    if args.readme:
        readme_images = os.path.relpath(args.images_dir, args.readme.parent)
        texts[args.readme] = replace_block(args.readme.read_text(encoding="utf-8"),
                                           section(systems, probe, readme_images, "###"))
    return texts, systems


def write_images(systems: Sequence[Tuple[str, List[FoldResult]]], probe_png: Optional[Path], images_dir: Path) -> None:
    images_dir.mkdir(parents=True, exist_ok=True)
    first = systems[0][1]
    plot_confusion(first[0].labels, sum(f.confusion for f in first), images_dir / "confusion.png")
    if probe_png is not None:
        tmp = images_dir / ".layer_probe.png.tmp"
        shutil.copyfile(probe_png, tmp)
        tmp.replace(images_dir / "layer_probe.png")


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fold_dir", required=True, help="fold data dir pattern with {fold} (holds test/emotion)")
    parser.add_argument("--folds", nargs="+", required=True, help="fold numbers")
    parser.add_argument("--system", nargs=2, action="append", required=True, metavar=("NAME", "HYP_PATTERN"),
                        help="row name and its inference dir pattern with {fold}; the first gets the confusion PNG")
    parser.add_argument("--probe", type=Path, help="probe.json of layer_probe (probe.png beside it is copied)")
    parser.add_argument("--images_dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="RESULTS.md to write")
    parser.add_argument("--readme", type=Path, help="README.md whose demo section is replaced")
    parser.add_argument("--check", action="store_true", help="only verify that the files match the outputs")
    args = parser.parse_args(argv)
    try:
        texts, systems = render(args)
    except DataDirError as err:
        sys.exit(f"ERROR: demo results: {err}")
    if args.check:
        stale = [str(p) for p, text in texts.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        if stale:
            sys.exit(f"ERROR: {', '.join(stale)} differ(s) from the inference outputs; rerun without --check")
        print("results files match the inference outputs")
        return
    write_images(systems, args.probe.with_name("probe.png") if args.probe else None, args.images_dir)
    for path, text in texts.items():
        write_lines(path, text.rstrip("\n").split("\n"))
    print(f"wrote {', '.join(map(str, texts))}")


if __name__ == "__main__":
    main()
