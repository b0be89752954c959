"""Encoder speed (issue 2): EfficientConformerEncoder vs ESPnet's ConformerEncoder.

Both encoders have the paper size (12 blocks, 256 dims, 4 heads, FFN 2048, conv kernel 15,
conv2d x4 input layer) and run in this process on the same random 80-dim features at
100 frames/s (10 s and 60 s, batch 8 and 1). Each case is warmed up once, then timed
``--runs`` times with the two encoders alternating, so load from other processes falls
on both alike; the table gives medians and the ratio efficient / conformer (target at
60 s on CPU: <= 0.75). Prints its markdown section on stdout (``bench/run_all.py``).

    python bench/encoder_speed.py [--runs 3] [--threads 2] [--device cuda --dtype bf16]
"""

import argparse
import contextlib
import sys
import time
from functools import partial
from typing import Callable, Dict, List, Optional

import benchlib
import torch

# stdout carries only the markdown section: ESPnet prints a flash-attn notice on import
with contextlib.redirect_stdout(sys.stderr):
    from espnet_qieemo._offline import no_nltk_downloads

    with no_nltk_downloads():
        from espnet2.asr.encoder.conformer_encoder import ConformerEncoder

    from espnet_qieemo.asr.encoder.efficient_conformer_encoder import (
        EfficientConformerEncoder,
    )

FEATS = 80
FRAMES_PER_SECOND = 100
SHARED = dict(
    output_size=256,
    attention_heads=4,
    linear_units=2048,
    num_blocks=12,
    input_layer="conv2d",
    cnn_module_kernel=15,
    macaron_style=True,
)
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def build_encoders() -> Dict[str, torch.nn.Module]:
    return {
        "conformer": ConformerEncoder(
            FEATS,
            rel_pos_type="latest",
            pos_enc_layer_type="rel_pos",
            selfattention_layer_type="rel_selfattn",
            **SHARED,
        ),
        "efficient": EfficientConformerEncoder(
            FEATS,
            stride_layer_idx=[3],
            stride=[2],
            group_layer_idx=[0, 1, 2, 3],
            group_size=3,
            **SHARED,
        ),
    }


def median_seconds(calls: Dict[str, Callable[[], object]], runs: int, sync: Callable[[], None]) -> Dict[str, float]:
    """Median wall time of each call; the calls alternate so machine load hits all alike."""
    times: Dict[str, List[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up: allocator, positional-encoding tables, kernel selection
    for _ in range(runs):
        for name, call in calls.items():
            sync()
            start = time.perf_counter()
            call()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: benchlib.median(t) for name, t in times.items()}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s, batch 1, 1 run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 1])
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.seconds, opts.batches, opts.runs = [10], [1], 1
    return opts


def main(argv: Optional[List[str]] = None) -> None:
    opts = parse_args(argv)
    torch.set_num_threads(opts.threads)
    torch.manual_seed(0)
    device = torch.device(opts.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast = (
        torch.autocast(device.type, dtype=DTYPES[opts.dtype])
        if DTYPES[opts.dtype] is not None
        else contextlib.nullcontext()
    )
    encoders = {k: v.to(device).eval() for k, v in build_encoders().items()}

    rows = []
    for seconds in opts.seconds:
        for batch in opts.batches:
            frames = seconds * FRAMES_PER_SECOND
            feats = torch.randn(batch, frames, FEATS, device=device)
            lens = torch.full((batch,), frames, dtype=torch.long, device=device)
            calls = {name: partial(enc, feats, lens) for name, enc in encoders.items()}
            load = benchlib.load_average()
            with torch.inference_mode(), autocast:
                t = median_seconds(calls, opts.runs, sync)
            ratio = t["efficient"] / t["conformer"]
            rows.append(
                [f"{seconds} s", batch, f"{t['conformer']:.3f}", f"{t['efficient']:.3f}"]
                + [f"{ratio:.2f}", f"{load:.1f}"]
            )
            print(f"[encoder_speed] {rows[-1]}", file=sys.stderr, flush=True)

    header = ["input", "batch", "conformer s", "efficient s", "efficient / conformer"]
    print("## Encoder speed (issue 2)\n")
    print(benchlib.machine_line(opts.device, opts.threads, opts.dtype))
    print(
        "Protocol: encoder forward only (no frontend) on random 80-dim features at "
        f"100 frames/s under `torch.inference_mode`; one warm-up call, then the median "
        f"of {opts.runs} calls per encoder, the two alternating. Both paper size: 12 "
        "blocks, 256 dims, 4 heads, FFN 2048, conv kernel 15, conv2d x4 input layer, "
        "rel-pos MHSA, macaron FFNs. Efficient: stride 2 after block 3, grouped "
        "attention (3 frames) in blocks 0-3. Target: efficient / conformer <= 0.75 at "
        "60 s on CPU. Load 1m = 1-minute load average before the case."
        + (" Quick mode: development settings, not for comparison." if opts.quick else "")
    )
    print()
    print(benchlib.table(header + ["load 1m"], rows))


if __name__ == "__main__":
    main()
