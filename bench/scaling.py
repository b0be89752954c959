"""Time and peak memory against input length (1 s to 10 min), batch 1, per model.

Prints its markdown section of ``bench/RESULTS.md`` on stdout. Every (model, length) runs
in a fresh process whose resident set size is watched: a run that passes the memory cap
is stopped and reported as not fitting, and longer inputs of that model are not tried.
"""

import argparse
import sys
import time
from typing import Dict, List, Optional, Tuple

import benchlib
from benchlib import fmt, ratio
from models import LABELS, MODELS, REFERENCE

FULL_LENGTHS = (1, 10, 60, 180, 600)
QUICK_LENGTHS = (1, 10)
SHORT_S = 10  # inputs up to this long get several timed reps; longer ones one
Result = Optional[benchlib.IsolatedResult]


def run_lengths(opts, lengths) -> Dict[Tuple[str, float], Result]:
    """Every model at one length before the next length, so a time budget cuts evenly.

    Lengths run in the order given (the longest first puts the memory limits first).
    ``None`` marks a run not started: a shorter input of that model did not fit, or the
    run's time budget (``--budget-s``) was spent.
    """
    results: Dict[Tuple[str, float], Result] = {}
    failed_at: Dict[str, float] = {}
    start = time.monotonic()
    for seconds in lengths:
        for model in MODELS:
            too_long = seconds >= failed_at.get(model, float("inf"))
            if too_long or time.monotonic() - start > opts.budget_s:
                results[(model, seconds)] = None
                continue
            reps = "3" if seconds <= SHORT_S and not opts.quick else "1"
            res = benchlib.measure(opts, model, seconds, 1, "--warmup", "1", "--warmup-seconds", "1", "--reps", reps)
            print(f"[scaling] {model} {seconds:g}s: {res.report or res.failure}", file=sys.stderr, flush=True)
            results[(model, seconds)] = res
            if res.report is None and res.failure != benchlib.STOPPED:
                failed_at[model] = min(seconds, failed_at.get(model, float("inf")))
    return results


def cell(res: Result) -> List[str]:
    if res is None:
        return ["not run (a shorter input did not fit, or the time budget was spent)", "-", "-"]
    if res.report is None:
        seen = f">= {res.watched_peak_mib / 1024:.2f}" if res.watched_peak_mib else "-"
        return [res.failure, "-", seen]
    rep = res.report
    return [f"{fmt(rep['median_s'])} s", fmt(rep["median_s"] / rep["seconds"]),
            f"{benchlib.peak_gib(rep):.2f}"]  # fmt: skip


def rows(results, lengths) -> List[List[str]]:
    out = []
    for seconds in sorted(lengths):
        ref = results.get((REFERENCE, seconds))
        ref_t = ref.report["median_s"] if ref and ref.report else None
        for model in MODELS:
            res = results[(model, seconds)]
            t = res.report["median_s"] if res and res.report else None
            load = f"{res.report['load_avg_1m']:.2f}" if res and res.report else "-"
            out.append([f"{seconds:g} s", LABELS[model], *cell(res), ratio(ref_t, t), load])
    return out


def fit_lines(opts, results, lengths) -> List[str]:
    """Where each model stops fitting, and the 10-minute memory target for Qieemo."""
    lines = []
    for model in MODELS:
        done = [(s, results[(model, s)]) for s in sorted(lengths) if results[(model, s)] is not None]
        fits = [s for s, r in done if r.report]
        failed = [(s, r) for s, r in done if r.report is None]
        line = f"- {LABELS[model]}: " + (f"fits up to {max(fits):g} s" if fits else "fits no tested length")
        if failed:
            line += f"; at {failed[0][0]:g} s: {failed[0][1].failure}"
        lines.append(line + ".")
    last = results.get(("qieemo", max(lengths)))
    if max(lengths) >= 600 and opts.device == "cpu":
        target = "- Target: Qieemo peak memory on a 10-minute input < 4 GiB: "
        if last and last.report:
            peak = benchlib.peak_gib(last.report)
            lines.append(target + f"{peak:.2f} GiB, " + ("met." if peak < 4 else f"missed by {peak - 4:.2f} GiB."))
        elif last and last.failure != benchlib.STOPPED:
            lines.append(target + f"not met ({last.failure}).")
        else:
            lines.append(target + "not measured (the bench was stopped before or during that run).")
    return lines


def section(opts, results, lengths) -> str:
    reps = "1 timed call" if opts.quick else f"the median of 3 timed calls up to {SHORT_S} s, 1 above"
    protocol = (
        "batch 1, waveform -> probabilities under `torch.inference_mode`, one warm-up call on a "
        f"1 s clip, then {reps}, each (model, length) in a fresh process. Peak = the process's "
        "RSS high-water mark (`VmHWM`, Python + torch + weights included; on GPU "
        "`torch.cuda.max_memory_allocated`); a run over the RSS cap is stopped "
        "(`>=` = the RSS seen when it was stopped). Speed-up = wav2vec 2.0 time / model time."
    )
    return "\n".join(
        [
            "## Scaling with input length (issue 7)",
            "",
            benchlib.context_lines(opts, protocol),
            "",
            benchlib.table(
                ["input", "model", "time", "RTF", "peak GiB", "speed-up vs w2v2", "load 1m"],
                rows(results, lengths),
            ),
            "",
            *fit_lines(opts, results, lengths),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    benchlib.add_common_args(parser)
    benchlib.stop_on_sigterm()
    parser.add_argument("--lengths", type=float, nargs="+", help=f"seconds (default {FULL_LENGTHS})")
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="start no run after this")
    parser.set_defaults(time_limit_s=1200.0)  # wav2vec 2.0 on 10 minutes takes minutes on CPU
    opts = parser.parse_args()
    lengths = opts.lengths or (QUICK_LENGTHS if opts.quick else FULL_LENGTHS)
    print(section(opts, run_lengths(opts, lengths), lengths))


if __name__ == "__main__":
    main()
