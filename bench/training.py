"""Fine-tuning cost: seconds per training step and peak memory, same batch of audio.

Prints its markdown section of ``bench/RESULTS.md`` on stdout. A step is forward,
cross-entropy, backward and an Adam update of every parameter (the Qieemo encoder is not
frozen), in train mode (dropout and, for Qieemo, SpecAugment as configured).
"""

import argparse
import sys
from typing import List

import benchlib
from benchlib import fmt, ratio
from models import LABELS, MODELS, REFERENCE

FULL = dict(batch=4, seconds=4.0, reps=3)  # 16 s of audio per step, near IEMOCAP's mean length
QUICK = dict(batch=2, seconds=2.0, reps=1)


def run_models(opts, setting) -> dict:
    results = {}
    for model in MODELS:
        results[model] = benchlib.measure(
            opts, model, setting["seconds"], setting["batch"], "--mode", "train",
            "--warmup", "1", "--reps", str(setting["reps"]),
        )  # fmt: skip
        print(f"[training] {model}: {results[model].report or results[model].failure}", file=sys.stderr, flush=True)
    return results


def rows(results, setting) -> List[List[str]]:
    ref = results[REFERENCE].report
    audio = setting["batch"] * setting["seconds"]
    out = []
    for model in MODELS:
        res = results[model]
        if res.report is None:
            seen = f">= {res.watched_peak_mib / 1024:.2f}" if res.watched_peak_mib else "-"
            out.append([LABELS[model], res.failure, "-", "-", seen, "-", "-"])
            continue
        rep = res.report
        peak = benchlib.peak_gib(rep)
        out.append(
            [
                LABELS[model], f"{fmt(rep['median_s'])} s", ratio(ref and ref["median_s"], rep["median_s"]),
                fmt(audio / rep["median_s"]), f"{peak:.2f}",
                ratio(peak, ref and benchlib.peak_gib(ref)), f"{rep['load_avg_1m']:.2f}",
            ]
        )  # fmt: skip
    return out


def section(opts, results, setting) -> str:
    protocol = (
        f"batch {setting['batch']} x {setting['seconds']:g} s of audio per step; one warm-up step, "
        f"then the median of {setting['reps']} timed steps, each model in a fresh process. "
        "Peak = the process's RSS high-water mark (weights, gradients, Adam state and "
        "activations included; on GPU `torch.cuda.max_memory_allocated`). "
        "Speed-up = wav2vec 2.0 step time / model step time."
    )
    return "\n".join(
        [
            "## Fine-tuning step (issue 7)",
            "",
            benchlib.context_lines(opts, protocol),
            "",
            benchlib.table(
                ["model", "s / step", "speed-up vs w2v2", "audio s / s", "peak GiB", "memory vs w2v2", "load 1m"],
                rows(results, setting),
            ),  # fmt: skip
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    benchlib.add_common_args(parser)
    benchlib.stop_on_sigterm()
    parser.add_argument("--reps", type=int, help="timed steps (default 3, quick 1)")
    opts = parser.parse_args()
    setting = dict(QUICK if opts.quick else FULL)
    if opts.reps:
        setting["reps"] = opts.reps
    print(section(opts, run_models(opts, setting), setting))


if __name__ == "__main__":
    main()
