"""Cold-start latency of the ``qieemo`` command: what a user waits for, process start included.

Prints its markdown section of ``bench/RESULTS.md`` on stdout. Every figure is the wall time
of a fresh process (interpreter start, imports, model load, work, exit), median of ``reps``
runs. The baseline, run in the same session, is the ESPnet way of doing what ``predict``
does: ``EmotionTask.build_model_from_file`` (ESPnet's task registries imported) on the same
packed model and file, so the ratio shows what the fast loader saves.
Targets (issue 13): ``--help`` <= 1 s, one-file ``predict`` <= 8 s on the 2-core CPU.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import benchlib
import numpy as np
import soundfile
from benchlib import fmt, ratio

MODEL = benchlib.REPO / "egs2" / "emodb_qieemo" / "emo1" / "pretrained" / "emo_qieemo_multicorpus4.zip"
QIEEMO = Path(sys.executable).with_name("qieemo")
ESPNET_WAY = """
import sys, tempfile
from espnet2.main_funcs.pack_funcs import unpack
from espnet_qieemo.tasks.emotion import EmotionTask
from espnet_qieemo.utils import audio
import torch
with tempfile.TemporaryDirectory() as tmp:
    files = unpack(sys.argv[1], tmp, use_cache=False)
    model, _ = EmotionTask.build_model_from_file(files["train_config"], files["model_file"])
wave = torch.from_numpy(audio.load(sys.argv[2]))[None]
with torch.no_grad():
    print(model.eval().classify(wave, torch.tensor([wave.size(1)])).softmax(-1).tolist())
"""


def one_file(workdir: Path) -> Path:
    """A real EmoDB utterance when the corpus is there, else 2.5 s of noise-modulated tone."""
    data = Path(os.environ.get("QIEEMO_DATA", benchlib.REPO.parent / "shared" / "data"))
    real = data / "emodb" / "wav" / "03a01Fa.wav"
    if real.is_file():
        return real
    t = np.arange(int(2.5 * 16000)) / 16000
    wave = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.3 * np.random.default_rng(0).standard_normal(t.size))
    path = workdir / "tone.wav"
    soundfile.write(path, wave.astype(np.float32), 16000)
    return path


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wall_and_cpu_times(command: List[str], reps: int) -> Tuple[List[float], List[float]]:
    """Wall time per run, and CPU time (user + system), which other jobs on the machine inflate less."""
    walls, cpus = [], []
    for _ in range(reps):
        cpu, start = child_cpu_seconds(), time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        cpus.append(child_cpu_seconds() - cpu)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs per case instead of 5")
    opts = parser.parse_args()
    reps = 3 if opts.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        wav = one_file(Path(tmp))
        cases = [
            ("interpreter start (`python -c pass`)", [sys.executable, "-c", "pass"], None),
            ("`import espnet_qieemo`", [sys.executable, "-c", "import espnet_qieemo"], None),
            ("`qieemo --help`", [str(QIEEMO), "--help"], 1.0),
            (
                f"`qieemo predict {wav.name}` (default model)",
                [str(QIEEMO), "predict", str(wav), "--model", str(MODEL)],
                8.0,
            ),
            (
                "baseline: the same through `EmotionTask.build_model_from_file`",
                [sys.executable, "-c", ESPNET_WAY, str(MODEL), str(wav)],
                None,
            ),
        ]
        results = []
        for name, command, target in cases:
            load = benchlib.load_average()
            times, cpus = wall_and_cpu_times(command, reps)
            print(f"[cli_latency] {name}: {[round(t, 2) for t in times]}", file=sys.stderr, flush=True)
            results.append((name, benchlib.median(times), min(times), benchlib.median(cpus), target, load))
    baseline = results[-1][1]
    rows = []
    for name, med, low, cpu, target, load in results:
        verdict = "-" if target is None else f"<= {target:g} s: {'met' if med <= target else 'MISSED'}"
        rows.append(
            [name, f"{fmt(med)} s", f"{fmt(low)} s", f"{fmt(cpu)} s", ratio(med, baseline), verdict, f"{load:.2f}"]
        )
    print("## CLI start-up latency (issue 13)\n")
    print(benchlib.machine_line("cpu", 1, "fp32").replace("1 intra-op threads", "default threads"))
    print(
        f"Protocol: wall time of a fresh process per run, median of {reps} (min also shown); "
        "CPU = median user + system time of the process (less sensitive to other jobs than wall time); "
        "the machine's 1-minute load average before each case. Ratio = median / baseline median "
        "(the baseline loads the same model through ESPnet's task, as `predict` did before the fast loader).\n"
    )
    print(benchlib.table(["command", "median", "min", "CPU (user+sys)", "vs baseline", "target", "load 1m"], rows))


if __name__ == "__main__":
    main()
