"""Does batching pay in the PyTorch path? Utterances/s of ``Speech2Emotion`` at batch 1 and 8.

Issue 15 target: on the 2-core CPU, batch 8 of 3 s clips gives >= 1.5x the utterances/s of
batch 1. One process, the shipped default model, 32 real EmoDB clips cut or tiled to 3 s;
each setting gets one warm-up pass over the clips, then the median of ``--reps`` passes.
Rows: batch 1 (baseline), batch 8 with the batched log-mel frontend (``utils.batch_frontend``,
the default) and batch 8 with the model's per-utterance frontend (before issue 15). The load
average is printed: figures taken under load are not comparable.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import benchlib
import numpy as np
import torch


def clips(data_root: Path, n: int, seconds: float):
    from espnet_qieemo.utils import audio

    files = sorted((data_root / "emodb" / "wav").glob("*.wav"))[:n]
    target = int(seconds * 16000)
    out = []
    for f in files:
        w = audio.load(f)
        out.append(np.resize(w, target).astype(np.float32))  # tiled, then cut to exactly 3 s
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    benchlib.add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--utterances", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("QIEEMO_DATA", "../shared/data")))
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    from espnet_qieemo.bin import qieemo_cli
    from espnet_qieemo.bin.emo_inference import Speech2Emotion

    s2e = Speech2Emotion.from_pretrained(qieemo_cli.SHIPPED_MODEL)
    waves = clips(opts.data, 8 if opts.quick else opts.utterances, opts.seconds)
    reps = 1 if opts.quick else opts.reps
    load_before = benchlib.load_average()
    settings = [
        ("batch 1", 1, True),
        ("batch 8, batched frontend", 8, True),
        ("batch 8, per-utterance frontend", 8, False),
    ]
    rate = {}
    for name, batch, batched in settings:
        s2e.batch_size, s2e.batch_frontend = batch, batched
        s2e(waves)  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            s2e(waves)
            times.append(time.perf_counter() - t0)
        rate[name] = len(waves) / benchlib.median(times)
        print(f"{name}: {rate[name]:.2f} utt/s", file=sys.stderr)
    load_after = benchlib.load_average()
    base = rate["batch 1"]
    print("## Batching in the PyTorch path (issue 15)\n")
    print(benchlib.machine_line("cpu", opts.threads, "fp32"))
    print(
        f"Protocol: one process, shipped default model, {len(waves)} clips of {opts.seconds:g} s, one warm-up pass, "
        f"median of {reps} passes. 1-min load average {load_before:.2f} before, {load_after:.2f} after.\n"
    )
    rows = [(name, f"{rate[name]:.2f}", f"{rate[name] / base:.2f}x") for name, _, _ in settings]
    print(benchlib.table(["setting", "utterances/s", "vs batch 1"], rows))
    gain = rate["batch 8, batched frontend"] / base
    print(f"\nTarget: batch 8 >= 1.5x batch 1: {gain:.2f}x ({'met' if gain >= 1.5 else 'missed'}).")


if __name__ == "__main__":
    main()
