"""int8 / fp32 ONNX Runtime against PyTorch fp32 on the EmoDB demo's test folds (issue 15).

For each fold, the demo's full Qieemo model (``exp/<system>/packed/fold<k>.zip``, read only)
is exported to ONNX twice (fp32 and ``--quantize int8``, into a temporary folder) and every
test utterance of ``dump/raw/fold<k>/test`` (read only) is classified by PyTorch fp32,
ONNX Runtime fp32 and ONNX Runtime int8. Prints a markdown section: label agreement with
PyTorch, UA of each backend against the reference labels, and the largest probability
difference of ONNX Runtime fp32 from PyTorch.

    python bench/int8_agreement.py [--recipe egs2/emodb_qieemo/emo1] [--system emo_cma_multihead_seed0]
"""

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def read_pairs(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return dict(line.strip().split(maxsplit=1) for line in f if line.strip())


def probs_of(results, labels):
    return np.array([[r.probs[c] for c in labels] for r in results])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, default=REPO / "egs2" / "emodb_qieemo" / "emo1")
    parser.add_argument("--system", default="emo_cma_multihead_seed0")
    parser.add_argument("--folds", default="1,2,3,4,5")
    parser.add_argument("--threads", type=int, default=2)
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)

    from espnet_qieemo.bin.emo_export import export_onnx
    from espnet_qieemo.bin.emo_inference import Speech2Emotion
    from espnet_qieemo.emo.metrics import confusion_matrix, metrics_from_confusion
    from espnet_qieemo.ort_backend import OnnxSpeech2Emotion
    from espnet_qieemo.utils import audio

    rows, totals = [], {"n": 0, "agree_int8": 0, "agree_fp32": 0, "maxdiff": 0.0}
    refs_all, hyps_all = [], {"torch": [], "fp32": [], "int8": []}
    for fold in opts.folds.split(","):
        packed = opts.recipe / "exp" / opts.system / "packed" / f"fold{fold}.zip"
        data = opts.recipe / "dump" / "raw" / f"fold{fold}" / "test"
        wavs, refs = read_pairs(data / "wav.scp"), read_pairs(data / "emotion")
        keys = sorted(wavs)
        s2e = Speech2Emotion.from_pretrained(packed, batch_size=1)
        waves = [audio.load(wavs[k], s2e.fs) for k in keys]
        longest = max(len(w) for w in waves) / s2e.fs
        print(f"fold {fold}: {len(keys)} utterances, longest {longest:.2f} s", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="qieemo_int8_") as tmp:
            backends = {}
            for quant in ("fp32", "int8"):
                path = Path(tmp) / f"{quant}.onnx"
                export_onnx(
                    s2e,
                    path,
                    max_seconds=2 ** math.ceil(math.log2(longest)),
                    quantize=None if quant == "fp32" else quant,
                )
                backends[quant] = OnnxSpeech2Emotion(path, batch_size=1, threads=opts.threads)
            p = {"torch": probs_of(s2e(waves), s2e.labels)}
            for quant, b in backends.items():
                p[quant] = probs_of(b(waves), s2e.labels)
        labels = s2e.labels
        ref_ids = [labels.index(refs[k]) for k in keys]
        pred = {name: v.argmax(1) for name, v in p.items()}
        ua = {}
        for name in pred:
            ua[name] = metrics_from_confusion(confusion_matrix(ref_ids, pred[name], len(labels)))["UA"]
            hyps_all[name] += list(pred[name])
        refs_all += ref_ids
        agree8 = int((pred["int8"] == pred["torch"]).sum())
        agree32 = int((pred["fp32"] == pred["torch"]).sum())
        maxdiff = float(np.abs(p["fp32"] - p["torch"]).max())
        maxdiff8 = float(np.abs(p["int8"] - p["torch"]).max())
        totals["n"] += len(keys)
        totals["agree_int8"] += agree8
        totals["agree_fp32"] += agree32
        totals["maxdiff"] = max(totals["maxdiff"], maxdiff)
        rows.append(
            f"| fold{fold} | {len(keys)} | {100 * agree8 / len(keys):.1f} | {100 * agree32 / len(keys):.1f} | "
            f"{ua['torch']:.1f} | {ua['fp32']:.1f} | {ua['int8']:.1f} | {ua['int8'] - ua['torch']:+.1f} | "
            f"{maxdiff:.1e} | {maxdiff8:.3f} |"
        )
    n = totals["n"]
    ua_all = {k: metrics_from_confusion(confusion_matrix(refs_all, v, len(labels)))["UA"] for k, v in hyps_all.items()}
    rows.append(
        f"| all | {n} | {100 * totals['agree_int8'] / n:.1f} | {100 * totals['agree_fp32'] / n:.1f} | "
        f"{ua_all['torch']:.1f} | {ua_all['fp32']:.1f} | {ua_all['int8']:.1f} | "
        f"{ua_all['int8'] - ua_all['torch']:+.1f} | {totals['maxdiff']:.1e} | |"
    )
    agree = 100 * totals["agree_int8"] / n
    du = ua_all["int8"] - ua_all["torch"]
    print("## int8 and fp32 ONNX Runtime against PyTorch on the EmoDB test folds\n")
    print(f"Model: `{opts.system}` (packed per fold), test folds of `{opts.recipe.name}`; one utterance per call.\n")
    print(
        "| fold | utterances | int8 labels = PyTorch (%) | ORT fp32 labels = PyTorch (%) | UA PyTorch | UA ORT fp32 "
        "| UA ORT int8 | UA int8 - PyTorch | max abs prob diff ORT fp32 | max abs prob diff int8 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\nTargets: int8 labels agree with fp32 PyTorch on >= 99 %: {agree:.1f} % "
        f"({'met' if agree >= 99 else 'missed'}); UA moves by <= 1 point: {du:+.1f} "
        f"({'met' if abs(du) <= 1 else 'missed'}); ORT fp32 within 1e-4 of PyTorch: {totals['maxdiff']:.1e} "
        f"({'met' if totals['maxdiff'] <= 1e-4 else 'missed'}). UA pooled over the folds' utterances."
    )


if __name__ == "__main__":
    main()
