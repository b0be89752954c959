"""End-to-end emotion inference (waveform -> class probabilities): speed, size and MACs.

Prints its markdown section of ``bench/RESULTS.md`` on stdout (``run_all.py`` collects it).
Each (model, input length, batch) is timed in a fresh process: median of several calls
after one warm-up call. Speed-up = wav2vec 2.0 time / model time (above 1 is faster).
"""

import argparse
import sys
from typing import Dict, List, Optional, Tuple

import benchlib
from benchlib import fmt, ratio
from models import LABELS, MODELS, REFERENCE

# (seconds, batch, timed reps); one warm-up call each.
FULL_GRID = [(3, 1, 5), (3, 16, 3), (10, 1, 5), (10, 16, 2), (60, 1, 3), (60, 16, 2)]
QUICK_GRID = [(3, 1, 2), (10, 2, 1)]
Case = Tuple[str, float, int]


def parse_cases(text: str) -> List[Tuple[float, int, int]]:
    """``"3x1:5,10x16:2"`` -> [(3, 1, 5), (10, 16, 2)]: seconds x batch : timed reps."""
    cases = []
    for item in text.split(","):
        try:
            size, reps = item.split(":")
            seconds, batch = size.split("x")
            cases.append((float(seconds), int(batch), int(reps)))
        except ValueError:
            raise ValueError(f"--cases item {item!r}: expected SECONDSxBATCH:REPS, e.g. 10x16:2") from None
    return cases


def run_grid(opts, grid) -> Dict[Case, benchlib.IsolatedResult]:
    results = {}
    for seconds, batch, reps in grid:  # all models per case, so a cut-short run stays comparable
        for model in MODELS:
            extra = ["--warmup", "1", "--reps", str(reps)]
            if batch == 1:
                extra.append("--count-macs")
            res = benchlib.measure(opts, model, seconds, batch, *extra)
            print(f"[e2e_inference] {model} {seconds:g}s x{batch}: {res.report or res.failure}",
                  file=sys.stderr, flush=True)  # fmt: skip
            results[(model, seconds, batch)] = res
    return results


def median_s(result: Optional[benchlib.IsolatedResult]) -> Optional[float]:
    return result.report["median_s"] if result and result.report else None


def speed_rows(results, grid) -> List[List[str]]:
    rows = []
    for seconds, batch, _ in grid:
        reference = median_s(results.get((REFERENCE, seconds, batch)))
        for model in MODELS:
            res = results[(model, seconds, batch)]
            if res.report is None:
                rows.append([LABELS[model], f"{seconds:g} s", str(batch), res.failure] + ["-"] * 7)
                continue
            rep, t = res.report, res.report["median_s"]
            rows.append(
                [
                    LABELS[model], f"{seconds:g} s", str(batch), f"{fmt(t)} s",
                    f"{fmt(min(rep['times_s']))} s",
                    fmt(benchlib.real_time_factor(t, seconds, batch)),
                    fmt(benchlib.utterances_per_second(t, batch)),
                    ratio(reference, t), str(len(rep["times_s"])),
                    f"{benchlib.peak_gib(rep):.2f}", f"{rep['load_avg_1m']:.2f}",
                ]
            )  # fmt: skip
    return rows


def size_rows(results, grid) -> List[List[str]]:
    lengths = [s for s, b, _ in grid if b == 1]

    def report(model, seconds):
        res = results.get((model, seconds, 1))
        return res.report if res and res.report else None

    def params(model):
        reps = [report(model, s) for s in lengths]
        return next((r["params"] for r in reps if r), None)

    def macs(model, seconds):
        rep = report(model, seconds)
        return rep.get("macs") if rep else None

    rows = []
    for model in MODELS:
        row = [LABELS[model], f"{params(model) / 1e6:.2f} M" if params(model) else "-"]
        row.append(ratio(params(model), params(REFERENCE)))
        for s in lengths:
            m = macs(model, s)
            row += [f"{m / 1e9:.1f} G" if m else "-", ratio(m, macs(REFERENCE, s))]
        rows.append(row)
    header = ["model", "parameters", "vs w2v2"]
    for s in lengths:
        header += [f"MACs @ {s:g} s", "vs w2v2"]
    return [header] + rows


def target_lines(results) -> List[str]:
    """The issue's speed targets, with the measured margin."""
    lines = []
    w2v, qie, bb2 = (median_s(results.get((m, 10, 1))) for m in (REFERENCE, "qieemo", "backbone2"))
    if w2v and qie:
        got = w2v / qie
        verdict = "met" if got >= 5 else f"missed by {5 - got:.2f}× ({got / 5:.0%} of target)"
        lines.append(f"- Qieemo >= 5× faster than wav2vec 2.0 at 10 s (batch 1): {got:.2f}×, {verdict}.")
    qie60, bb60 = median_s(results.get(("qieemo", 60, 1))), median_s(results.get(("backbone2", 60, 1)))
    if qie60 and bb60:
        got = bb60 / qie60
        verdict = "met" if got >= 1.3 else f"missed by {1.3 - got:.2f}× ({got / 1.3:.0%} of target)"
        lines.append(f"- Efficient conformer >= 1.3× faster than backbone 2 at 60 s: {got:.2f}×, {verdict}.")
    if w2v and bb2:
        lines.append(f"- For reference, backbone 2 vs wav2vec 2.0 at 10 s: {w2v / bb2:.2f}×.")
    return lines


def source_lines(results) -> List[str]:
    """Where each architecture came from (recipe configs or torchaudio)."""
    sources = {}
    for (model, _, _), res in results.items():
        if res.report:
            sources.setdefault(model, res.report["source"])
    return [f"- {LABELS[m]}: {src}" for m, src in sources.items()]


def section(opts, results, grid) -> str:
    out = [
        "## End-to-end emotion inference (issue 7)",
        "",
        benchlib.context_lines(
            opts,
            "waveform (16 kHz, noise) -> class probabilities under `torch.inference_mode`, the "
            "ESPnet models including their fbank frontend; one warm-up call, then the median of "
            "`reps` timed calls, each case in a fresh process. RTF = seconds per second of audio; "
            "speed-up = wav2vec 2.0 median / model median. MACs = FLOPs / 2 from "
            "`torch.utils.flop_counter.FlopCounterMode` at batch 1 (matrix products, convolutions, "
            "attention; element-wise ops, norms and the STFT are not counted). Peak = the "
            "process's RSS high-water mark on CPU (Python, torch and weights included), "
            "`torch.cuda.max_memory_allocated` on GPU.",
        ),
        "",
        benchlib.table(
            [
                "model",
                "input",
                "batch",
                "median",
                "min",
                "RTF",
                "utt/s",
                "speed-up vs w2v2",
                "reps",
                "peak GiB",
                "load 1m",
            ],
            speed_rows(results, grid),
        ),  # fmt: skip
        "",
    ]
    sizes = size_rows(results, grid)
    out += [benchlib.table(sizes[0], sizes[1:]), ""]
    missing = [f"{s:g} s x {b}" for s, b, _ in FULL_GRID if (s, b) not in {(s2, b2) for s2, b2, _ in grid}]
    if missing and not opts.quick:
        out += [f"Not measured in this run (left out with `--cases`): {', '.join(missing)}.", ""]
    targets = target_lines(results) or ["- not evaluated: needs the full grid (10 s and 60 s at batch 1)."]
    out += ["Targets:", *targets, "", "Models:", *source_lines(results), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    benchlib.add_common_args(parser)
    benchlib.stop_on_sigterm()
    parser.set_defaults(time_limit_s=900.0)  # wav2vec 2.0 on 16 x 60 s: minutes per call on CPU
    parser.add_argument("--cases", help="SECONDSxBATCH:REPS,... instead of the full grid")
    opts = parser.parse_args()
    grid = QUICK_GRID if opts.quick else FULL_GRID
    if opts.cases:
        grid = parse_cases(opts.cases)
    print(section(opts, run_grid(opts, grid), grid))


if __name__ == "__main__":
    main()
