"""One measurement in a fresh process; prints a JSON report as its last stdout line.

Run by ``benchlib.run_isolated`` so that each figure's peak memory (the process's resident
set high-water mark, ``VmHWM``) belongs to that figure alone. ``--mode infer`` times
waveform -> class probabilities; ``--mode train`` times one fine-tuning step (forward,
cross-entropy, backward, Adam update) on the same kind of batch.
"""

import argparse
import json
from contextlib import AbstractContextManager, nullcontext
from typing import Callable

import benchlib
import torch
from models import MODELS, build_model

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--mode", choices=["infer", "train"], default="infer")
    parser.add_argument("--seconds", type=float, required=True, help="length of each clip")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    parser.add_argument("--reps", type=int, default=3, help="timed calls (median reported)")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=None,
        help="warm up on clips of this length instead (cheap warm-up for long inputs)",
    )
    parser.add_argument("--count-macs", action="store_true", help="also count MACs (batch 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    return parser


def autocast_for(device: str, dtype: str) -> Callable[[], AbstractContextManager]:
    """Context factory for a timed call: autocast to ``dtype`` on ``device``'s type; none for fp32."""
    cast = DTYPES[dtype]
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    return (lambda: torch.autocast(device_type, dtype=cast)) if cast else nullcontext


def device_sync(device: str) -> Callable[[], None]:
    """What a timer waits on: CUDA kernels run asynchronously, CPU work does not."""
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def make_batch(batch: int, seconds: float, device: str):
    """Noise clips of one length (cost does not depend on content); labels for training."""
    gen = torch.Generator().manual_seed(0)
    samples = int(round(seconds * benchlib.SAMPLE_RATE))
    speech = 0.1 * torch.randn(batch, samples, generator=gen)
    lengths = torch.full((batch,), samples, dtype=torch.long)
    labels = torch.randint(0, 4, (batch,), generator=gen)
    return speech.to(device), lengths.to(device), labels.to(device)


def step_function(model, mode: str, batch, autocast, no_grad=torch.inference_mode):
    """The call to time: inference under ``no_grad``, or one optimiser step."""
    speech, lengths, labels = batch
    if mode == "infer":
        model.module.eval()

        def infer():
            with no_grad(), autocast():
                return model.probs(speech, lengths)

        return infer
    model.module.train()
    optimizer = torch.optim.Adam(model.module.parameters(), lr=1e-5)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = model.loss(speech, lengths, labels)
        loss.backward()
        optimizer.step()

    return train_step


def main() -> None:
    args = get_parser().parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cuda = args.device.startswith("cuda")
    sync = device_sync(args.device)
    autocast = autocast_for(args.device, args.dtype)
    model = build_model(args.model)
    model.module.to(args.device)
    batch = make_batch(args.batch, args.seconds, args.device)
    rss_before = benchlib.rss_mib()
    fn = step_function(model, args.mode, batch, autocast)
    if args.warmup_seconds is not None and args.warmup:
        warm = make_batch(args.batch, args.warmup_seconds, args.device)
        benchlib.time_calls(step_function(model, args.mode, warm, autocast), args.warmup, 0, sync)
        warmup = 0
    else:
        warmup = args.warmup
    times = benchlib.time_calls(fn, warmup, args.reps, sync)
    report = {
        "model": args.model,
        "mode": args.mode,
        "seconds": args.seconds,
        "batch": args.batch,
        "times_s": times,
        "median_s": benchlib.median(times),
        "params": benchlib.count_parameters(model.module),
        "source": model.source,
        "rss_before_mib": rss_before,
        "peak_rss_mib": benchlib.rss_mib(key="VmHWM"),
        "load_avg_1m": benchlib.load_average(),
        "threads": torch.get_num_threads(),
    }
    if cuda:
        report["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / benchlib.MIB
    if args.count_macs:
        one = make_batch(1, args.seconds, args.device)
        # inference_mode hides weight-norm parametrised weights from FlopCounterMode
        infer = step_function(model, "infer", one, autocast, no_grad=torch.no_grad)
        report["macs"] = benchlib.count_macs(infer)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
