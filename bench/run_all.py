"""Run every bench script and regenerate ``bench/RESULTS.md`` as a whole (``make bench``).

Convention for a bench script: run as ``python bench/<name>.py [options]``, it prints its
own markdown section (starting with a ``## `` heading) on stdout and progress on stderr.
Options are passed only to scripts whose ``--help`` lists them: ``--quick`` (development
settings), ``--device`` / ``--dtype`` (the GPU runs). Output that is not markdown is kept
verbatim in a code block. A missing script is skipped with a note, a failing one gets its
error in its section, and the other sections are still written.

Each section is also stored in ``bench/sections/`` so ``--only NAME`` can re-run one
script and rebuild RESULTS.md from the stored sections of the others (``--only`` with no
name rebuilds it from the stored sections alone). The section ``bench/gpu_check.py``
(``make gpu-check``) writes on a GPU, ``bench/sections/gpu_check.md``, goes under "GPU".
"""

import argparse
import datetime
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import benchlib
import torch

from espnet_qieemo.utils.fileio import atomic_write

SCRIPTS = (
    "cli_latency",
    "e2e_inference",
    "ort_inference",
    "batching",
    "int8_agreement",
    "scaling",
    "training",
    "long_input_memory",
    "encoder_speed",
    "inference_speed",
)
SECTIONS = benchlib.BENCH_DIR / "sections"
RESULTS = benchlib.BENCH_DIR / "RESULTS.md"
NOTES = benchlib.BENCH_DIR / "NOTES.md"  # hand-written reading of the figures, kept as is
GPU_CHECK = SECTIONS / "gpu_check.md"  # written by bench/gpu_check.py (`make gpu-check`) on a GPU only
GPU_DTYPES = ("fp32", "bf16")


def script_path(name: str) -> Path:
    return benchlib.BENCH_DIR / f"{name}.py"


def supported_options(path: Path) -> str:
    """The script's ``--help`` text, to see which of the shared options it takes."""
    done = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def script_args(help_text: str, quick: bool, device: str, dtype: str) -> Optional[List[str]]:
    """Options for one run; ``None`` when the script cannot run on ``device``."""
    args = ["--quick"] if quick and "--quick" in help_text else []
    if device == "cpu":
        return args
    if "--device" not in help_text or "--dtype" not in help_text:
        return None
    return args + ["--device", device, "--dtype", dtype]


def as_markdown(name: str, stdout: str) -> str:
    text = stdout.strip()
    if text.startswith("#"):
        return text + "\n"
    return f"## bench/{name}.py\n\n```\n{text}\n```\n"


def run_script(name: str, args: Sequence[str], timeout_s: float) -> str:
    """The script's markdown section, or a section saying why there is none."""
    command = [sys.executable, str(script_path(name)), *args]
    print(f"[run_all] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout_s,
            cwd=benchlib.REPO,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"## bench/{name}.py\n\nNot measured: the script ran past {timeout_s:g} s.\n"
    if done.returncode != 0:
        return (
            f"## bench/{name}.py\n\nFailed with exit status {done.returncode} "
            f"(`python bench/{name}.py {' '.join(args)}`); its stderr is in the bench log.\n"
        )
    return as_markdown(name, done.stdout)


def section_file(name: str, device: str, dtype: str) -> Path:
    suffix = "" if device == "cpu" else f".{device.replace(':', '')}.{dtype}"
    return SECTIONS / f"{name}{suffix}.md"


def runs(device_list: Sequence[str]) -> List[tuple]:
    """(device, dtype) pairs: CPU fp32, and fp32 + bf16 on each GPU given."""
    return [("cpu", "fp32")] + [(d, t) for d in device_list for t in GPU_DTYPES]


def collect(opts) -> Dict[Path, str]:
    """Run the selected scripts (all by default); the rest come from stored sections."""
    sections: Dict[Path, str] = {}
    for name in SCRIPTS:
        path = script_path(name)
        selected = opts.only is None or name in opts.only
        help_text = supported_options(path) if path.is_file() and selected else ""
        for device, dtype in runs(opts.gpus):
            target = section_file(name, device, dtype)
            if not path.is_file():
                if device == "cpu":
                    sections[target] = f"## bench/{name}.py\n\nSkipped: bench/{name}.py does not exist yet.\n"
                continue
            if not selected:
                if target.is_file():
                    sections[target] = target.read_text()
                elif device == "cpu":
                    sections[target] = f"## bench/{name}.py\n\nNot run this time and no stored section.\n"
                continue
            args = script_args(help_text, opts.quick, device, dtype)
            if args is None:
                continue
            sections[target] = run_script(name, args, opts.script_timeout_s)
            with atomic_write(target) as f:
                f.write(sections[target])
    return sections


def gpu_note(sections: Iterable[Path]) -> str:
    """Which sections ran on a GPU (their files are named ``<script>.<device>.<dtype>.md``), then
    the stored section of ``make gpu-check``, whichever machine RESULTS.md is rebuilt on."""
    if any(path.suffixes[:-1] for path in sections):
        note = "## GPU\n\nSections stored as `<script>.cuda.<dtype>.md` ran on a GPU (fp32 and bf16 autocast).\n"
    else:
        note = (
            "## GPU\n\nNo per-script GPU sections: `make bench` has not run where a GPU was available. "
            "There, it adds fp32 and bf16 sections for every script that takes `--device`/`--dtype` "
            "(`python bench/e2e_inference.py --device cuda --dtype bf16`); the CPU figures stay.\n"
        )
    if GPU_CHECK.is_file():
        return note + "\n" + GPU_CHECK.read_text()
    return note + "\n`make gpu-check` (`bench/gpu_check.py`) has not run on a GPU yet.\n"


def header(opts) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/run_all.py" + (" --quick" if opts.quick else "")
    if opts.only is not None:
        command += " --only " + " ".join(opts.only)
    made = f"Generated by `{command.strip()}` (`make bench` runs every script) on {now}"
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"{made}; sections of scripts not run this time are the stored ones from "
            "`bench/sections/`, each with the options it was run with. Each section "
            "names its machine, threads, torch version and repetitions. Models: paper-size "
            "Qieemo (efficient conformer 12x256 + MMF + CMA), backbone 2 (ESPnet conformer "
            "12x256 + MMF + CMA), and a wav2vec 2.0 base-size classifier (torchaudio "
            "`wav2vec2_base` + mean pooling + linear head), all with untrained weights "
            "(cost only). Load 1m = the machine's 1-minute load average during the run: "
            "values well above the thread count mean other jobs shared the CPU.",
            "",
        ]
    )


def write_results(opts) -> None:
    sections = collect(opts)
    parts = [header(opts), *sections.values(), gpu_note(sections)]
    if NOTES.is_file():
        parts.append(NOTES.read_text())
    with atomic_write(RESULTS) as f:
        f.write("\n".join(parts))
    print(f"[run_all] wrote {RESULTS}", file=sys.stderr)


def rebuild() -> None:
    """RESULTS.md from the stored sections alone, as ``--only`` with no name (after ``gpu_check.py``).

    Stored GPU sections are kept, also where this machine has no GPU.
    """
    write_results(argparse.Namespace(quick=False, only=[], gpus=["cuda"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="development settings")
    parser.add_argument("--only", nargs="*", choices=SCRIPTS, help="run only these scripts")
    parser.add_argument("--script-timeout-s", type=float, default=3 * 3600.0)
    opts = parser.parse_args()
    opts.gpus = ["cuda"] if torch.cuda.is_available() else []
    write_results(opts)


if __name__ == "__main__":
    main()
