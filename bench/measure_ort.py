"""One ONNX Runtime measurement in a fresh process; prints a JSON report as its last stdout line.

``--kind qieemo``: a model from ``qieemo export``, timed waveform -> probabilities through
``OnnxSpeech2Emotion.classify_batch`` (numpy log-mel frontend + the ONNX graph).
``--kind wav2vec2``: the benchmark's wav2vec 2.0 classifier exported for one (batch, samples)
shape, timed on ``session.run``. Same noise clips, warm-up and median as ``measure.py``.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np


def rss(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1]) / 1024.0
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--onnx", required=True)
    parser.add_argument("--kind", choices=["qieemo", "wav2vec2"], required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import onnxruntime as ort

    samples = int(round(args.seconds * 16000))
    speech = (0.1 * np.random.default_rng(0).standard_normal((args.batch, samples))).astype(np.float32)
    lengths = np.full(args.batch, samples, dtype=np.int64)
    if args.kind == "qieemo":
        from espnet_qieemo.ort_backend import OnnxSpeech2Emotion

        s2e = OnnxSpeech2Emotion(args.onnx, batch_size=args.batch, threads=args.threads)
        waves = list(speech)

        def fn():
            return s2e.classify_batch(waves)
    else:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])

        def fn():
            feeds = {"speech": speech, "lengths": lengths}
            return session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})

    for _ in range(args.warmup):
        fn()
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "model": args.label,
                "seconds": args.seconds,
                "batch": args.batch,
                "times_s": times,
                "median_s": statistics.median(times),
                "peak_rss_mib": rss("VmHWM"),
                "load_avg_1m": os.getloadavg()[0],
                "threads": args.threads,
                "onnxruntime": ort.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
