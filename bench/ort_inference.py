"""Qieemo on ONNX Runtime (fp32, int8) against wav2vec 2.0 base, PyTorch and ONNX Runtime (issue 15).

Prints its markdown section on stdout. Models: the paper-size Qieemo of ``models.py``
(untrained: cost only) in PyTorch fp32 (``measure.py``), exported by ``qieemo export``'s
code to ONNX fp32 and int8 (default length buckets up to 64 s, so an input is padded to the
next bucket as in deployment), and the wav2vec 2.0 base classifier in PyTorch fp32 and
exported to ONNX fp32 for each case's exact (batch, samples) shape without its padding mask
(``FullLengthWav2Vec2``; the clips are unpadded, so the mask changes nothing): the most
favourable export for it. Each (model, seconds, batch) runs in a fresh process: warm-up
call(s), then the median of the timed calls. Qieemo's ORT timings include the numpy log-mel
frontend; both PyTorch timings include their frontends.
"""

import argparse
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import benchlib
import torch
from benchlib import fmt, ratio
from models import DEFAULT_LABELS, build_model

BENCH = Path(__file__).resolve().parent
FULL_GRID = [(10, 1, 3), (3, 1, 3), (10, 8, 1), (3, 8, 2), (60, 1, 1), (60, 8, 1)]  # target case first
QUICK_GRID = [(3, 1, 1), (10, 1, 1)]
ROWS = ["qieemo_torch", "qieemo_ort_fp32", "qieemo_ort_int8", "w2v2_torch", "w2v2_ort_fp32"]
LABEL = {
    "qieemo_torch": "Qieemo, PyTorch fp32",
    "qieemo_ort_fp32": "Qieemo, ORT fp32",
    "qieemo_ort_int8": "Qieemo, ORT int8",
    "w2v2_torch": "wav2vec 2.0 base, PyTorch fp32",
    "w2v2_ort_fp32": "wav2vec 2.0 base, ORT fp32",
}


def export_qieemo(tmp: Path, lengths):
    """fp32 and int8 models holding the buckets of the default export (up to 64 s) that the
    clips of ``lengths`` seconds fall in: each clip runs exactly the graph it runs in the full
    default model, padded to its bucket (the other buckets would only cost export time)."""
    from espnet_qieemo.bin.emo_export import bucket_seconds, export_onnx
    from espnet_qieemo.bin.emo_inference import min_input_samples

    model = build_model("qieemo").module.eval()
    s2e = SimpleNamespace(model=model, fs=16000, labels=list(DEFAULT_LABELS), min_samples=min_input_samples(model))
    default = bucket_seconds(64.0)
    used = sorted({min(b for b in default if b >= s) for s in lengths})
    paths = {"fp32": tmp / "qieemo_fp32.onnx", "int8": tmp / "qieemo_int8.onnx"}
    export_onnx(s2e, paths["fp32"], buckets=used, int8_path=paths["int8"])
    print(f"[ort_inference] exported Qieemo fp32 + int8, buckets {used} s", file=sys.stderr, flush=True)
    return paths, used


class FullLengthWav2Vec2(torch.nn.Module):
    """The benchmark's wav2vec 2.0 classifier for batches of full-length clips (no padding mask):
    its masked path does not load in ONNX Runtime (a shape-inference error in a Where node),
    and on unpadded clips the mask changes nothing, so this is the same computation minus the mask."""

    def __init__(self, classifier: torch.nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, speech: torch.Tensor) -> torch.Tensor:
        feats, _ = self.classifier.encoder(speech, None)
        return self.classifier.head(feats.mean(1))


def export_w2v2(tmp: Path, seconds: float, batch: int) -> Path:
    path = tmp / f"w2v2_{seconds:g}x{batch}.onnx"
    if path.exists():
        return path
    model = FullLengthWav2Vec2(build_model("wav2vec2").module).eval()
    samples = int(round(seconds * 16000))
    speech = 0.1 * torch.randn(batch, samples)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (speech,),
            str(path),
            input_names=["speech"],
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    benchlib.add_common_args(parser)
    opts = parser.parse_args()
    benchlib.stop_on_sigterm()
    grid = QUICK_GRID if opts.quick else FULL_GRID
    results = {}
    with tempfile.TemporaryDirectory(prefix="qieemo_ort_bench_") as tmp:
        tmp = Path(tmp)
        qieemo, opts.buckets = export_qieemo(tmp, {s for s, _, _ in grid})
        for seconds, batch, reps in grid:
            for row in ROWS:
                extra = ["--warmup", "1", "--reps", str(reps)]
                if row == "qieemo_torch":
                    res = benchlib.measure(opts, "qieemo", seconds, batch, *extra)
                elif row == "w2v2_torch":
                    res = benchlib.measure(opts, "wav2vec2", seconds, batch, *extra)
                else:
                    if row == "w2v2_ort_fp32":
                        onnx, kind = export_w2v2(tmp, seconds, batch), "wav2vec2"
                    else:
                        onnx, kind = qieemo[row.rsplit("_", 1)[1]], "qieemo"
                    command = [
                        sys.executable, str(BENCH / "measure_ort.py"), "--onnx", str(onnx), "--kind", kind,
                        "--label", row, "--seconds", str(seconds), "--batch", str(batch),
                        "--threads", str(opts.threads), *extra,
                    ]  # fmt: skip
                    res = benchlib.run_isolated(command, opts.memory_cap_gib * 1024, opts.time_limit_s)
                print(f"[ort_inference] {row} {seconds:g}s x{batch}: {res.report or res.failure}", file=sys.stderr)
                results[(row, seconds, batch)] = res
    print(section(opts, results, grid))


def median(results, row, seconds, batch):
    res = results.get((row, seconds, batch))
    return res.report["median_s"] if res is not None and res.report else None


def section(opts, results, grid) -> str:
    import onnxruntime

    out = [
        "## Qieemo on ONNX Runtime fp32 / int8 vs wav2vec 2.0 base (issue 15)",
        "",
        benchlib.context_lines(
            opts,
            f"waveform (16 kHz, noise) -> class probabilities; onnxruntime {onnxruntime.__version__}, CPU provider, "
            "same intra-op threads; each case in a fresh process, one warm-up call, then the median of `reps` calls. "
            f"Qieemo ORT: the default export's length buckets {opts.buckets} s (each clip padded to its bucket).",
        ),
        "",
    ]
    rows = []
    for seconds, batch, _ in grid:
        w2v_t, w2v_o = median(results, "w2v2_torch", seconds, batch), median(results, "w2v2_ort_fp32", seconds, batch)
        for row in ROWS:
            res = results[(row, seconds, batch)]
            if res.report is None:
                rows.append([LABEL[row], f"{seconds:g} s", str(batch), res.failure, "-", "-", "-", "-", "-"])
                continue
            t = res.report["median_s"]
            rows.append(
                [
                    LABEL[row], f"{seconds:g} s", str(batch), f"{fmt(t)} s",
                    fmt(benchlib.utterances_per_second(t, batch)), ratio(w2v_t, t), ratio(w2v_o, t),
                    str(len(res.report["times_s"])), f"{res.report['load_avg_1m']:.2f}",
                ]
            )  # fmt: skip
    header = ["model", "clip", "batch", "median", "utt/s", "vs w2v2 PyTorch", "vs w2v2 ORT", "reps", "load 1m"]
    out.append(benchlib.table(header, rows))
    out.append("")
    i8, wt, wo = (median(results, r, 10, 1) for r in ("qieemo_ort_int8", "w2v2_torch", "w2v2_ort_fp32"))
    if i8 and wt:
        got = wt / i8
        out.append(f"- Target: Qieemo ORT int8 >= 10x faster than wav2vec 2.0 PyTorch at 10 s, batch 1: "
                   f"{got:.2f}x, {'met' if got >= 10 else 'missed'}.")  # fmt: skip
    if i8 and wo:
        got = wo / i8
        out.append(f"- Target: Qieemo ORT int8 >= 5x faster than wav2vec 2.0 ORT fp32 at 10 s, batch 1: "
                   f"{got:.2f}x, {'met' if got >= 5 else 'missed'}.")  # fmt: skip
    return "\n".join(out)


if __name__ == "__main__":
    main()
