"""Classical baseline on the recipe's own folds: eGeMAPS functionals + a linear SVM.

Shows what hand-crafted prosodic/spectral statistics reach on the same speakers, so the
neural numbers have a floor to be read against. Per fold: features of every utterance
(openSMILE eGeMAPSv02, 88 functionals), standardised on the training part; the SVM's C is
chosen by UA on the fold's validation part (training speakers only), never on test.
Writes the same files as ``emo_inference`` (``emotion``, ``score``, ``labels``, ``errors``)
per fold, so one scorer reads every system; ``score`` holds the softmax of the SVM margins
(a ranking, not calibrated probabilities).

Usage (from the recipe dir): ``python -m local.egemaps_svm --labels data/emodb/labels
--fold data/fold1 exp/egemaps_svm/fold1 --fold data/fold2 exp/egemaps_svm/fold2 ...``
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from pyscripts.kaldi_dir import DataDirError, read_labels, read_table

from espnet_qieemo.emo.metrics import confusion_matrix, metrics_from_confusion
from espnet_qieemo.utils import audio
from espnet_qieemo.utils.fileio import atomic_write

C_GRID = (0.001, 0.01, 0.1, 1.0)


def egemaps_extractor():
    import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


def extract(wav_scp: Path, smile, cache: Dict[str, np.ndarray]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Fill ``cache`` with features of every utterance of ``wav_scp``; (keys, [(utt, error)])."""
    keys, errors = [], []
    for utt, path in read_table(wav_scp).items():
        keys.append(utt)
        if utt in cache:
            continue
        try:
            signal, fs = audio.read(path)
            mono = audio.prepare(signal, fs, fs)
        except audio.AudioError as err:
            errors.append((utt, f"{path}: {err}"))
            continue
        cache[utt] = smile.process_signal(mono, fs).to_numpy(dtype=np.float64)[0]
    return keys, errors


def part_arrays(
    fold: Path, part: str, labels: Sequence[str], cache: Dict[str, np.ndarray]
) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """(utts with features, features, class indices) of ``fold/part``."""
    emotion = read_table(fold / part / "emotion")
    utts = [u for u in read_table(fold / part / "wav.scp") if u in cache]
    unknown = sorted({emotion[u] for u in utts} - set(labels))
    if unknown:
        raise DataDirError(f"{fold / part}/emotion: labels {unknown} not in the label list {list(labels)}")
    feats = np.stack([cache[u] for u in utts]) if utts else np.zeros((0, 88))
    return utts, feats, np.array([labels.index(emotion[u]) for u in utts])


def fit_svm(x: np.ndarray, y: np.ndarray, c: float, seed: int):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    model = make_pipeline(StandardScaler(), LinearSVC(C=c, class_weight="balanced", max_iter=20000, random_state=seed))
    return model.fit(x, y)


def unweighted_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    num_classes = int(max(y.max(), pred.max())) + 1
    return metrics_from_confusion(confusion_matrix(y, pred, num_classes))["UA"]


def softmax(margins: np.ndarray) -> np.ndarray:
    """Per-class scores from SVM margins; a two-class SVM gives one margin (for class 1)."""
    if margins.ndim == 1:
        margins = np.stack([-margins, margins], axis=1) / 2
    z = np.exp(margins - margins.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def run_fold(fold: Path, out_dir: Path, labels: List[str], smile, cache: Dict[str, np.ndarray], seed: int) -> float:
    """Train, select C on valid, predict test; returns the chosen C."""
    for part in ("train", "valid"):
        for utt, reason in extract(fold / part / "wav.scp", smile, cache)[1]:
            logging.warning("%s/%s: %s skipped: %s", fold, part, utt, reason)
    errors = extract(fold / "test" / "wav.scp", smile, cache)[1]
    (_, x_tr, y_tr), (_, x_va, y_va) = (part_arrays(fold, p, labels, cache) for p in ("train", "valid"))
    if len(set(y_tr)) < 2:
        raise DataDirError(f"{fold}/train: needs at least two classes, got {sorted(set(y_tr))}")
    best_c = max(C_GRID, key=lambda c: (unweighted_accuracy(y_va, fit_svm(x_tr, y_tr, c, seed).predict(x_va)), -c))
    model = fit_svm(x_tr, y_tr, best_c, seed)
    utts, x_te, _ = part_arrays(fold, "test", labels, cache)
    probs = softmax(model.decision_function(x_te)) if utts else np.zeros((0, len(labels)))
    write_outputs(out_dir, labels, utts, probs, errors)
    logging.info("%s: C=%g (valid UA), %d test utterances -> %s", fold, best_c, len(utts), out_dir)
    return best_c


def write_outputs(
    out_dir: Path, labels: Sequence[str], utts: Sequence[str], probs: np.ndarray, errors: Sequence[Tuple[str, str]]
) -> None:
    """The files of ``emo_inference``, each written to a temp file and renamed."""
    with atomic_write(out_dir / "labels") as f:
        f.writelines(f"{label}\n" for label in labels)
    with atomic_write(out_dir / "emotion") as f:
        f.writelines(f"{u} {labels[int(p.argmax())]}\n" for u, p in zip(utts, probs))
    with atomic_write(out_dir / "score") as f:
        f.writelines(f"{u} " + " ".join(f"{v:.6f}" for v in p) + "\n" for u, p in zip(utts, probs))
    with atomic_write(out_dir / "errors") as f:
        f.writelines(f"{u} {reason}\n" for u, reason in errors)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, required=True, help="class order, one label per line")
    parser.add_argument(
        "--fold",
        nargs=2,
        action="append",
        required=True,
        type=Path,
        metavar=("FOLD_DIR", "OUT_DIR"),
        help="fold dir with train/valid/test data dirs, and where to write its test predictions",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        labels = read_labels(args.labels)
        smile, cache = egemaps_extractor(), {}
        for fold, out_dir in args.fold:
            run_fold(fold, out_dir, labels, smile, cache, args.seed)
    except DataDirError as err:
        sys.exit(f"ERROR: eGeMAPS + SVM baseline: {err}")


if __name__ == "__main__":
    main()
