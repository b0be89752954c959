"""Inference speed of ``Speech2Emotion`` by batch size, and peak memory of a 30-minute timeline.

Prints its markdown section of ``bench/RESULTS.md`` on stdout (``run_all.py`` collects it).
The model is the paper-size Qieemo built from the recipe configs (``models.emotion_args``),
saved as an ESPnet config + model file and packed with ``emo_pack``, so the path measured
is the one users run (``Speech2Emotion.from_pretrained`` / ``qieemo timeline``); weights
are untrained (cost only). Throughput = seconds of audio classified per wall-clock second
on real EmoDB speech of mixed lengths (2, 4 and 6 s), so batches carry padding as in use.
The timeline run is a separate process on a 30-minute recording (EmoDB speech between
pauses); its peak RSS (``VmHWM``) is compared with the same process after loading the
model only.
"""

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import List

import benchlib
import numpy as np
import soundfile
import torch
import yaml
from benchlib import fmt

BATCH_SIZES = (1, 8, 32)


def corpus_root() -> Path:
    import os

    return Path(os.environ.get("QIEEMO_DATA", benchlib.REPO.parent / "shared" / "data"))


def emodb_waves(count: int) -> List[np.ndarray]:
    """``count`` utterances of 2, 4 or 6 s (1-3 EmoDB clips joined), 16 kHz."""
    from espnet_qieemo.utils import audio

    files = sorted((corpus_root() / "emodb" / "wav").glob("*.wav"))
    if not files:
        raise FileNotFoundError(f"no EmoDB files under {corpus_root()}/emodb/wav (set QIEEMO_DATA)")
    clips = [audio.load(f) for f in files[: 2 * count]]
    return [np.concatenate([clips[(2 * i + k) % len(clips)] for k in range(i % 3 + 1)]) for i in range(count)]


def pack_untrained(work: Path) -> Path:
    """The paper-size model as users get it: config.yaml + .pth packed by emo_pack."""
    from models import emotion_args

    from espnet_qieemo.bin.emo_pack import pack_emotion_model
    from espnet_qieemo.tasks.emotion import EmotionTask

    args, _ = emotion_args("efficient_conformer")
    model = EmotionTask.build_model(args)
    config = {k: v for k, v in vars(args).items() if not callable(v)}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), work / "model.pth")
    return pack_emotion_model(work / "config.yaml", work / "model.pth", work / "qieemo_paper_untrained.zip")


def throughput(packed: Path, waves: List[np.ndarray], reps: int) -> List[List[str]]:
    from espnet_qieemo.bin.emo_inference import Speech2Emotion

    audio_s = sum(len(w) for w in waves) / 16000
    rows = []
    for batch in BATCH_SIZES:
        s2e = Speech2Emotion.from_pretrained(packed, batch_size=batch)
        s2e(waves[:2])  # warm-up
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            s2e(waves)
            times.append(time.perf_counter() - start)
        t = benchlib.median(times)
        print(f"[inference_speed] batch {batch}: {t:.1f} s for {audio_s:.0f} s of audio", file=sys.stderr, flush=True)
        rows.append(
            [
                str(batch),
                f"{len(waves)} x 2-6 s ({audio_s:.0f} s)",
                f"{fmt(t)} s",
                fmt(audio_s / t),
                fmt(len(waves) / t),
                f"{benchlib.load_average():.2f}",
            ]
        )
    return rows


def write_recording(path: Path, minutes: float) -> float:
    """EmoDB utterances between 0.5-3 s pauses of faint noise, written block by block."""
    from espnet_qieemo.utils import audio

    rng = np.random.default_rng(0)
    files = sorted((corpus_root() / "emodb" / "wav").glob("*.wav"))
    total, target, i = 0, int(minutes * 60 * 16000), 0
    with soundfile.SoundFile(str(path), "w", 16000, 1, "PCM_16") as out:
        while total < target:
            pause = rng.normal(0, 3e-4, int(rng.uniform(0.5, 3.0) * 16000)).astype(np.float32)
            block = np.concatenate([pause, audio.load(files[i % len(files)])])[: target - total]
            out.write(block)
            total, i = total + len(block), i + 1
    return total / 16000


def child(opts) -> None:
    """Measurement process: load the model (and run the timeline unless --load-only); JSON report."""
    torch.set_num_threads(opts.threads)
    from espnet_qieemo.bin import qieemo_cli
    from espnet_qieemo.bin.emo_inference import Speech2Emotion

    start = time.perf_counter()
    segments = 0
    if opts.load_only:
        Speech2Emotion.from_pretrained(opts.child[0])
    else:
        out = Path(opts.child[1]).with_suffix(".timeline.jsonl")
        try:
            qieemo_cli.main(["timeline", "--model", opts.child[0], opts.child[1], "-o", str(out), "--batch-size", "8"])
        except SystemExit as status:
            if status.code:
                raise
        segments = len(out.read_text().splitlines())
    print(
        json.dumps(
            {
                "peak_rss_mib": benchlib.rss_mib(key="VmHWM"),
                "seconds": time.perf_counter() - start,
                "segments": segments,
            }
        )
    )


def timeline_rows(opts, packed: Path, work: Path, minutes: float) -> List[List[str]]:
    wav = work / "recording.wav"
    duration = write_recording(wav, minutes)
    base = [sys.executable, __file__, "--threads", str(opts.threads), "--child", str(packed), str(wav)]
    rows = []
    for name, extra in (("model loaded, no audio", ["--load-only"]), (f"`qieemo timeline`, {minutes:g} min", [])):
        print(f"[inference_speed] {name}", file=sys.stderr, flush=True)
        res = benchlib.run_isolated(base + extra, opts.memory_cap_gib * 1024, opts.time_limit_s)
        if res.report is None:
            rows.append([name, res.failure, "-", "-", "-"])
            continue
        rep = res.report
        speed = fmt(duration / rep["seconds"]) if not extra else "-"
        rows.append([name, f"{rep['peak_rss_mib']:.0f}", f"{rep['seconds']:.0f} s", str(rep["segments"] or "-"), speed])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(parser)
    parser.add_argument("--child", nargs=2, metavar=("ZIP", "WAV"), help=argparse.SUPPRESS)
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the timeline recording")
    opts = parser.parse_args()
    if opts.child:
        return child(opts)
    if opts.device != "cpu":
        sys.exit("inference_speed.py measures the CPU path only")
    torch.set_num_threads(opts.threads)
    count, reps, minutes = (8, 1, 3.0) if opts.quick else (32, 1, opts.minutes)
    opts.time_limit_s = max(opts.time_limit_s, 3600.0)
    with tempfile.TemporaryDirectory(prefix="qieemo_bench_") as tmp:
        work = Path(tmp)
        with contextlib.redirect_stdout(sys.stderr):  # ESPnet prints import and packing notes
            packed = pack_untrained(work)
        speed = throughput(packed, emodb_waves(count), reps)
        memory = timeline_rows(opts, packed, work, minutes)
    print("## Inference speed (issue 5)\n")
    print(
        benchlib.context_lines(
            opts,
            f"`Speech2Emotion` on waveforms already in memory (16 kHz), "
            f"median of {reps} pass(es) after a warm-up call; load 1m = load average "
            f"after the pass. Timeline: fresh process, 10 s blocks for the energy VAD, "
            f"segments of at most 15 s read from disk per batch of 8.",
        )
    )
    print()
    print(benchlib.table(["batch", "utterances", "wall", "audio s / wall s", "utt/s", "load 1m"], speed))
    print()
    print(benchlib.table(["run", "peak RSS MiB", "wall", "segments", "audio s / wall s"], memory))
    print(
        f"\nThe {minutes:g}-minute recording as float32 in memory would be "
        f"{minutes * 60 * 16000 * 4 / benchlib.MIB:.0f} MiB; the timeline never holds it, "
        "and the encoder only ever sees one segment (at most 15 s) per batch item."
    )


if __name__ == "__main__":
    main()
