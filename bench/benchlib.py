"""Measurement helpers shared by the bench scripts: machine facts, timing, MACs, memory.

Every figure in ``bench/RESULTS.md`` comes with the machine it was taken on, so the
helpers here return that context together with the numbers. Peak memory is measured in a
fresh subprocess (its resident set size), because the allocator of torch keeps freed
memory mapped and an in-process delta says little about what a run really needed.
"""

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MIB = 1024.0 * 1024.0
SAMPLE_RATE = 16000


# ---------------------------------------------------------------- machine facts
def cpu_model() -> str:
    """CPU model name as /proc/cpuinfo states it (platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> float:
    """1-minute load average: other jobs on a shared machine make timings noisy."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()} ({os.cpu_count()} logical CPUs)"


def machine_line(device: str, threads: int, dtype: str) -> str:
    """One markdown line with everything a reader needs to compare figures."""
    return (
        f"Machine: {device_name(device)}; device `{device}`, dtype {dtype}, "
        f"torch {torch.__version__}, {threads} intra-op threads, Python {platform.python_version()}."
    )


# ---------------------------------------------------------------- arithmetic
def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def real_time_factor(seconds_taken: float, audio_seconds: float, batch: int) -> float:
    """Processing time per second of audio: a batch of ``batch`` clips of ``audio_seconds``."""
    return seconds_taken / (audio_seconds * batch)


def utterances_per_second(seconds_taken: float, batch: int) -> float:
    return batch / seconds_taken


def peak_gib(report: Dict) -> float:
    """Peak memory of a measurement: GPU allocations on CUDA, process RSS on CPU."""
    return report.get("cuda_peak_mib", report["peak_rss_mib"]) / 1024.0


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_macs(fn: Callable[[], object]) -> int:
    """Multiply-accumulates of one call of ``fn``, as FLOPs / 2 of FlopCounterMode.

    FlopCounterMode counts matrix products, convolutions and attention (2 FLOPs per
    multiply-add); element-wise work, norms, softmax and the FFT of a feature frontend
    are not counted.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() // 2


def time_calls(
    fn: Callable[[], object], warmup: int, reps: int, sync: Callable[[], None] = lambda: None
) -> List[float]:
    """Wall-clock seconds of ``reps`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


# ---------------------------------------------------------------- memory
def rss_mib(pid: Optional[int] = None, key: str = "VmRSS") -> float:
    """Resident set size (``VmRSS``) or its high-water mark (``VmHWM``) of a process, MiB."""
    status = Path(f"/proc/{pid or 'self'}/status")
    for line in status.read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1]) / 1024.0
    raise RuntimeError(f"{status} has no {key} line; peak memory needs Linux /proc")


@dataclass
class IsolatedResult:
    """What one measurement subprocess gave: its JSON report, or why there is none."""

    report: Optional[Dict] = None
    failure: Optional[str] = None  # "over memory cap (...)", "over time limit (...)", error text
    watched_peak_mib: float = 0.0  # highest RSS the parent saw while polling
    command: List[str] = field(default_factory=list)


def run_isolated(
    command: Sequence[str], memory_cap_mib: float, time_limit_s: float, poll_s: float = 0.02
) -> IsolatedResult:
    """Run ``command`` in a fresh process under a memory cap and a time limit.

    The parent polls the child's resident set size and kills it once it passes the cap
    (or the time limit), so an input that does not fit is reported instead of taking the
    machine down. The child prints one JSON object as its last stdout line.
    """
    result = IsolatedResult(command=list(command))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    try:
        while proc.poll() is None:
            try:
                result.watched_peak_mib = max(result.watched_peak_mib, rss_mib(proc.pid))
            except (OSError, RuntimeError):
                pass  # the child is exiting
            if result.watched_peak_mib > memory_cap_mib:
                result.failure = f"over memory cap ({memory_cap_mib / 1024:.0f} GiB)"
            elif time.monotonic() - start > time_limit_s:
                result.failure = f"over time limit ({time_limit_s:.0f} s)"
            if result.failure:
                proc.kill()
                break
            time.sleep(poll_s)
        stdout, stderr = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if result.failure:
        return result
    if proc.returncode != 0:
        reason = "killed by the OS (out of memory?)" if proc.returncode == -9 else "failed"
        tail = stderr.strip().splitlines()[-1:] or [""]
        result.failure = f"{reason}: rc {proc.returncode} {tail[0]}".strip()
        return result
    lines = stdout.strip().splitlines()
    try:
        result.report = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        result.failure = f"the measurement printed no JSON report ({exc})"
    return result


# ---------------------------------------------------------------- markdown
def fmt(value: Optional[float], digits: int = 3) -> str:
    """Number with ``digits`` significant digits; '-' for a missing value."""
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def ratio(value: Optional[float], reference: Optional[float]) -> str:
    """``value / reference`` as 'x.xx×'; '-' when either is missing."""
    if value is None or reference in (None, 0):
        return "-"
    return f"{value / reference:.2f}×"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- shared CLI
def add_common_args(parser) -> None:
    """Options every section script takes (``run_all.py`` passes them through)."""
    parser.add_argument("--quick", action="store_true", help="short settings for development")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--memory-cap-gib", type=float, default=12.0, help="a run above this RSS is stopped")
    parser.add_argument("--time-limit-s", type=float, default=300.0, help="per measurement run")


STOPPED = "not run (the bench was stopped)"


def stop_on_sigterm() -> None:
    """SIGTERM acts like Ctrl-C: a bench cut short still prints what it had measured."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def measure(opts, model: str, seconds: float, batch: int, *extra: str) -> IsolatedResult:
    """One ``measure.py`` run with the device, dtype, threads and limits of ``opts``.

    After a Ctrl-C or SIGTERM (see ``stop_on_sigterm``) the running measurement is killed
    and this and every later call return a result marked ``STOPPED``, so the section script
    goes on to print the figures it has.
    """
    if getattr(opts, "stopped", False):
        return IsolatedResult(failure=STOPPED)
    command = [
        sys.executable, str(BENCH_DIR / "measure.py"),
        "--model", model, "--seconds", str(seconds), "--batch", str(batch),
        "--device", opts.device, "--dtype", opts.dtype, "--threads", str(opts.threads),
        *extra,
    ]  # fmt: skip
    try:
        return run_isolated(command, opts.memory_cap_gib * 1024, opts.time_limit_s)
    except KeyboardInterrupt:
        opts.stopped = True
        return IsolatedResult(failure=STOPPED, command=command)


def context_lines(opts, protocol: str) -> str:
    """Machine and protocol lines printed under every section heading."""
    return "\n".join(
        [
            machine_line(opts.device, opts.threads, opts.dtype),
            f"Protocol: {protocol} Memory cap {opts.memory_cap_gib:g} GiB RSS, "
            f"time limit {opts.time_limit_s:g} s per run"
            + (" (quick mode: development settings, not for comparison)." if opts.quick else "."),
        ]
    )
