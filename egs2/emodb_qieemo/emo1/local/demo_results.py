"""One results table for several systems on the same folds, recomputed from inference outputs.

The EmoDB demo compares the full model, its ablations and a classical baseline, each trained
with several seeds on the same folds; each row is scored here from the systems' per-run
(seed, fold) inference dirs (``emotion`` + ``labels``, as written
by ``emo_inference``) against the folds' test references, with ``emo_score``'s metrics, so
the table can always be regenerated (``--check``) and never holds a number typed in by hand.
Writes ``--out`` (RESULTS.md), the first system's confusion matrix PNG and the probe plot
into ``--images_dir``, and optionally the same table into README.md between the markers
``<!-- emodb-demo-results:begin -->`` and ``<!-- emodb-demo-results:end -->``.

``--selection NAME EXP_PATTERN`` rows add a table of validation UA (read from each run's
``train.log``, never from a test fold) with the row of the highest mean marked: how the
demo's choices are made and shown.

Usage (from the recipe dir): ``python -m local.demo_results --fold_dir 'dump/raw/fold{fold}' --folds 1 2 3 4 5
--seeds 0 1 2 --system "Qieemo (full)" 'exp/seed{seed}/emo_x/fold{fold}/inference_valid.ua.ave/test' --system ...
[--selection "residual" 'exp/seed{seed}/emo_y/fold{fold}'] [--setup "text"]
[--probe exp/layer_probe/probe.json] --images_dir images --out RESULTS.md [--readme ../../../README.md] [--check]``
"""

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from pyscripts.emo_score import FoldResult, plot_confusion, score_fold, summarize
from pyscripts.kaldi_dir import DataDirError, write_lines

from espnet_qieemo.emo.metrics import METRICS

BEGIN = "<!-- emodb-demo-results:begin -->"
END = "<!-- emodb-demo-results:end -->"
# "[valid] loss=1.2, acc=0.5, ua=0.45, ..." in ESPnet's per-epoch summary line of train.log
VALID_UA = re.compile(r"\[valid\].*?\bua=([0-9.eE+-]+)")


def runs(seeds: Sequence[str], folds: Sequence[str]) -> List[Tuple[str, str]]:
    return [(s, k) for s in seeds for k in folds]


def score_system(pattern: str, fold_dir: str, folds: Sequence[str], seeds: Sequence[str] = ("0",)) -> List[FoldResult]:
    """One FoldResult per (seed, fold) run, seed-major; a system without seeds repeats its folds."""
    results = []
    for seed, k in runs(seeds, folds):
        hyp = Path(pattern.format(fold=k, seed=seed))
        if not (hyp / "labels").is_file():
            raise DataDirError(f"{hyp}: no inference output (expected 'labels' and 'emotion'); run the system first")
        results.append(score_fold(f"fold{k}", Path(fold_dir.format(fold=k)), hyp))
    labels = {tuple(r.labels) for r in results}
    if len(labels) != 1:
        raise DataDirError(f"{pattern}: folds disagree on the class order: {sorted(labels)}")
    return results


def fmt(stats: Dict[str, float]) -> str:
    return f"{stats['mean']:.1f} +- {stats['std']:.1f}"


def valid_ua_curve(exp_dir: Path) -> List[float]:
    """Validation UA (percent) of every epoch of a training run, in epoch order.

    From the trainer's own record in ``checkpoint.pth`` where it exists (it keeps every epoch,
    also across a resume, which starts a new ``train.log``), else from ``train.log``.
    """
    checkpoint = exp_dir / "checkpoint.pth"
    if checkpoint.is_file():
        from espnet_qieemo.utils.weights import read_state_dict  # data only: no pickled code runs

        stats = read_state_dict(checkpoint)["reporter"]["stats"]
        values = [float(stats[e]["valid"]["ua"]) for e in sorted(stats) if "ua" in stats[e].get("valid", {})]
        if values:
            return [100.0 * v for v in values]
    log = exp_dir / "train.log"
    if not log.is_file():
        raise DataDirError(f"{log}: not found; run the system first")
    values = [float(v) for v in VALID_UA.findall(log.read_text(encoding="utf-8", errors="replace"))]
    if not values:
        raise DataDirError(f"{log}: no '[valid] ... ua=' epoch summary; did training finish an epoch?")
    return [100.0 * v for v in values]


def best_valid_ua(exp_dir: Path) -> float:
    return max(valid_ua_curve(exp_dir))


def epochs_table(
    pattern: str, seeds: Sequence[str], folds: Sequence[str], candidates: Sequence[int], nbest: int
) -> List[str]:
    """Validation UA of the ``nbest`` best epochs up to E, for each candidate number of epochs E.

    Training for E epochs is the first E epochs of a longer run (the warm-up schedule does not
    depend on the epoch count, and each epoch's shuffling only on the seed and the epoch), so
    every candidate is read off the same curves; the ``nbest`` best epochs up to E are the ones
    inference averages. Validation only: no test fold is read.
    """
    curves = [valid_ua_curve(Path(pattern.format(fold=k, seed=s))) for s, k in runs(seeds, folds)]
    longest = min(len(c) for c in curves)
    usable = [e for e in candidates if e <= longest]
    if not usable:
        raise DataDirError(f"{pattern}: runs have {longest} epoch(s), fewer than every candidate {list(candidates)}")
    scores = {e: np.array([np.mean(sorted(c[:e])[-nbest:]) for c in curves]) for e in usable}
    chosen = max(scores, key=lambda e: (scores[e].mean(), -e))  # fewer epochs on a tie
    lines = ["| epochs | validation UA of the epochs averaged | chosen |", "|---|---|---|"]
    for e, v in scores.items():
        lines.append(f"| {e} | {v.mean():.1f} +- {v.std():.1f} | {'**yes**' if e == chosen else ''} |")
    lines += [
        "",
        f"Mean validation UA of the {nbest} best epochs among the first E (the checkpoints `valid.ua.ave` "
        f"averages), mean +- std over {len(curves)} runs of `{pattern}`; the runs trained {longest} epochs, "
        "so longer training was not measured.",
    ]
    return lines


def validation_scores(
    rows: Sequence[Tuple[str, str]], seeds: Sequence[str], folds: Sequence[str]
) -> Dict[str, np.ndarray]:
    """Best validation UA of each (seed, fold) run of each candidate."""
    return {
        name: np.array([best_valid_ua(Path(pattern.format(fold=k, seed=s))) for s, k in runs(seeds, folds)])
        for name, pattern in rows
    }


def choose(scores: Dict[str, np.ndarray]) -> str:
    """The candidate with the highest mean validation UA (the first one on a tie)."""
    return max(scores, key=lambda n: scores[n].mean())


def selection_table(rows: Sequence[Tuple[str, str]], seeds: Sequence[str], folds: Sequence[str]) -> List[str]:
    """Mean +- std of best validation UA per candidate over (seed, fold) runs; the best is marked."""
    scores = validation_scores(rows, seeds, folds)
    chosen = choose(scores)
    lines = ["| candidate | validation UA | chosen |", "|---|---|---|"]
    for name, v in scores.items():
        lines.append(f"| {name} | {v.mean():.1f} +- {v.std():.1f} | {'**yes**' if name == chosen else ''} |")
    lines += [
        "",
        f"Best-epoch validation UA (validation utterances come from the training speakers of each fold), "
        f"mean +- std over {len(seeds) * len(folds)} runs; no test fold is read.",
    ]
    return lines


def paired_gap(reference: List[FoldResult], folds: List[FoldResult]) -> str:
    """UA of ``reference`` minus UA of ``folds``, run by run: mean +- std and runs won."""
    gaps = np.array([r.metrics["UA"] - f.metrics["UA"] for r, f in zip(reference, folds)])
    return f"{gaps.mean():+.1f} +- {gaps.std():.1f} ({int((gaps > 0).sum())}/{len(gaps)})"


def per_fold_wa(results: List[FoldResult]) -> str:
    """WA of each fold, averaged over the seeds (runs sharing a fold name)."""
    names = list(dict.fromkeys(r.name for r in results))
    return " / ".join(f"{np.mean([r.metrics['WA'] for r in results if r.name == n]):.1f}" for n in names)


def system_table(systems: Sequence[Tuple[str, List[FoldResult]]], n_seeds: int) -> List[str]:
    first_name, first = systems[0]
    fold_names = list(dict.fromkeys(f.name for f in first))
    lines = [
        f"| system | WA | UA | WF1 | UA gain of {first_name} (runs won) | WA per fold ({', '.join(fold_names)}) |",
        "|---|---|---|---|---|---|",
    ]
    for name, folds in systems:
        s = summarize(folds)
        gap = "" if folds is first else paired_gap(first, folds)
        lines.append(f"| {name} | " + " | ".join(fmt(s[m]) for m in METRICS) + f" | {gap} | {per_fold_wa(folds)} |")
    lines += [
        "",
        f"Mean +- population std over {len(first)} runs ({n_seeds} seed(s) x {len(fold_names)} folds), "
        "in percent. WA = accuracy, UA = mean per-class recall, WF1 = support-weighted F1; a test "
        "utterance without a prediction counts as wrong. The gain column is the run-by-run (same seed, "
        f"same fold) UA difference between {first_name} and that row (positive: the first row is "
        "better), with the number of runs where it is better. Per-fold WA is the mean over seeds.",
    ]
    return lines


def probe_table(probe: Dict) -> List[str]:
    from .layer_probe import summary as probe_summary  # imports torch: only when a probe is shown

    lines = ["| block | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for row in probe_summary(probe):
        lines.append(f"| {row['block']} | " + " | ".join(f"{row[m][0]:.1f} +- {row[m][1]:.1f}" for m in METRICS) + " |")
    return lines


def section(
    systems: Sequence[Tuple[str, List[FoldResult]]],
    probe: Optional[Dict],
    images: str,
    heading: str,
    setup: str,
    n_seeds: int,
    selection: Optional[List[str]] = None,
    epochs: Optional[List[str]] = None,
) -> List[str]:
    """The results text shared by RESULTS.md and the README (``images`` relative to that file)."""
    first = systems[0][1]
    fold_counts = dict((f.name, f.counts.get("test", 0)) for f in first)
    counts = " / ".join(str(c) for c in fold_counts.values())
    lines = [
        f"{heading} EmoDB demo (`make demo`, CPU)",
        "",
        f"EmoDB, classes {', '.join(first[0].labels)}; {len(fold_counts)} folds, each testing one male + one "
        f"female speaker (test sizes {counts}); validation from the training speakers only. {setup}",
        "",
    ]
    lines += system_table(systems, n_seeds)
    lines += ["", f"Confusion matrix of {systems[0][0]} (all test folds): ![confusion]({images}/confusion.png)"]
    if selection:
        lines += ["", f"{heading}# CMA form chosen on validation UA", ""] + selection
    if epochs:
        lines += ["", f"{heading}# Number of epochs, on validation UA", ""] + epochs
    if probe is not None:
        lines += [
            "",
            f"{heading}# Linear probe per ASR encoder block (paper Table I)",
            "",
            f"Frozen ASR encoder, mean-pooled block outputs, a 256-dim two-layer head per block and fold "
            f"(epoch chosen by valid UA, {probe['epochs']} epochs max).",
            "",
        ]
        lines += probe_table(probe) + ["", f"![probe]({images}/layer_probe.png)"]
    return lines


def replace_block(text: str, block: List[str], begin: str = BEGIN, end: str = END) -> str:
    """Put ``block`` between the markers in ``text`` (appended as a new section when absent)."""
    body = "\n".join([begin] + block + [end])
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        return head + body + rest.split(end, 1)[1]
    return text.rstrip("\n") + "\n\n" + body + "\n"


def render(args) -> Tuple[Dict[Path, str], List[Tuple[str, List[FoldResult]]]]:
    """The text of every output file and the scored systems, from the inference outputs."""
    systems = [(name, score_system(pattern, args.fold_dir, args.folds, args.seeds)) for name, pattern in args.system]
    # the form is chosen on the first seed (run.sh stage 2), so that is what the table shows
    selection = selection_table(args.selection, args.seeds[:1], args.folds) if args.selection else None
    epochs = None
    if args.epochs:
        epochs = epochs_table(args.epochs, args.seeds, args.folds, args.epoch_candidates, args.nbest)
    probe = json.loads(args.probe.read_text()) if args.probe else None
    images = os.path.relpath(args.images_dir, args.out.parent)
    common = dict(setup=args.setup, n_seeds=len(args.seeds), selection=selection, epochs=epochs)
    texts = {args.out: "\n".join(section(systems, probe, images, "#", **common)) + "\n"}
    if args.notes:
        texts[args.out] += "\n" + args.notes.read_text(encoding="utf-8")
    if args.readme:
        readme_images = os.path.relpath(args.images_dir, args.readme.parent)
        texts[args.readme] = replace_block(
            args.readme.read_text(encoding="utf-8"), section(systems, probe, readme_images, "###", **common)
        )
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
    parser.add_argument("--seeds", nargs="+", default=["0"], help="training seeds ({seed} in the patterns)")
    parser.add_argument(
        "--system",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "HYP_PATTERN"),
        help="row name and its inference dir pattern with {fold} (and {seed}); the first gets the confusion PNG",
    )
    parser.add_argument(
        "--selection",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "EXP_PATTERN"),
        help="a candidate compared on validation UA: its training exp dir pattern (train.log)",
    )
    parser.add_argument(
        "--epochs", metavar="EXP_PATTERN", help="training exp dir pattern whose validation curves rate epoch counts"
    )
    parser.add_argument("--epoch_candidates", type=int, nargs="+", default=[4, 6, 8, 10, 12])
    parser.add_argument("--nbest", type=int, default=3, help="epochs averaged for inference (keep_nbest_models)")
    parser.add_argument("--notes", type=Path, help="markdown appended to --out (how the choices were made)")
    parser.add_argument("--setup", default="", help="a sentence on the backbones and seeds, put under the heading")
    parser.add_argument("--probe", type=Path, help="probe.json of layer_probe (probe.png beside it is copied)")
    parser.add_argument("--images_dir", type=Path)
    parser.add_argument("--out", type=Path, help="RESULTS.md to write")
    parser.add_argument("--readme", type=Path, help="README.md whose demo section is replaced")
    parser.add_argument("--check", action="store_true", help="only verify that the files match the outputs")
    parser.add_argument(
        "--print_choice", action="store_true", help="only print the --selection candidate with the best validation UA"
    )
    args = parser.parse_args(argv)
    if not args.print_choice and not (args.system and args.out and args.images_dir):
        parser.error("give --system (at least one), --out and --images_dir")
    if args.print_choice:
        try:
            print(choose(validation_scores(args.selection, args.seeds, args.folds)))
        except (DataDirError, ValueError) as err:
            sys.exit(f"ERROR: demo results: {err}")
        return
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
