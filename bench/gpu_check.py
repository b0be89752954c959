"""``make gpu-check``: the CUDA tests and the GPU figures of issue 20, in one run of at most 8 minutes.

On a GPU it runs the tests marked ``cuda`` (``pytest -m cuda tests``), then times, all in this
one process so every ratio compares figures taken side by side, in fp32 and in bf16 autocast:

- ASR training steps of the paper-size efficient conformer, built by ESPnet's ``ASRTask`` from
  the recipe's ``train_asr_efficient_conformer.yaml`` (encoder, CTC and decoder; a batch as large
  as the config's ``batch_bins`` allows, of 3-15 s clips);
- emotion fine-tuning steps of paper-size Qieemo and of the wav2vec 2.0 base-size classifier;
- batched inference of the same two models.

It writes ``bench/sections/gpu_check.md`` and rebuilds ``bench/RESULTS.md`` with it.

Without a GPU, or with ``--cpu-smoke``, it runs the same steps on the CPU at tiny sizes, once
each, and writes ``bench/sections/gpu_check.cpu_smoke.md`` (never the GPU section nor
RESULTS.md): that form keeps the script working, and its figures say nothing about a GPU.
Where torch and ESPnet are installed outside ``.venv`` (a GPU machine's own Python),
``python bench/gpu_check.py`` runs it without ``make``.
"""

import argparse
import datetime
import gc
import math
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import benchlib
import models
import run_all
import torch
from benchlib import fmt, ratio
from measure import autocast_for, device_sync, make_batch, step_function

import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer with ESPnet's ASR task)
from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.utils.fileio import atomic_write

SMOKE_SECTION = run_all.SECTIONS / "gpu_check.cpu_smoke.md"
DTYPES = ("fp32", "bf16")
ASR, FINETUNE, INFER = "ASR training", "emotion fine-tuning", "batched inference"
ASR_LABEL = "efficient conformer ASR 12x256 (encoder + CTC + decoder)"
TOKENS_PER_SECOND = 3.0  # about the rate of a 5000-token BPE on read English
TESTS_TIMEOUT_S = 240.0
COLUMNS = ("task", "model", "params", "dtype", "batch", "median s / step", "steps / s", "audio s / s")
COLUMNS += ("bf16 speed-up", "vs w2v2", "peak GiB", "reps")


@dataclass(frozen=True)
class Form:
    """Sizes of one form of the check: the GPU one, or the CPU smoke one."""

    name: str
    asr_clips: Optional[int]  # None: as many clips as the config's batch_bins holds, padded
    asr_seconds: Tuple[float, float]  # shortest and longest clip of the ASR batch
    finetune: Tuple[int, float]  # clips x seconds (the emotion config's batch_size, IEMOCAP's mean length)
    infer: Tuple[int, float]
    warmup: int
    reps: int


GPU = Form("GPU", None, (3.0, 15.0), (16, 4.0), (16, 10.0), warmup=3, reps=10)
SMOKE = Form("CPU smoke", 2, (1.0, 2.0), (2, 1.0), (2, 1.0), warmup=0, reps=1)


@dataclass
class Case:
    """One timed row: a model, a dtype and the batch each step sees."""

    task: str
    model: str  # a key of models.LABELS, or "asr"
    dtype: str
    clips: List[float]  # seconds of each clip in the batch
    params: Optional[int] = None
    times: List[float] = field(default_factory=list)
    peak_gib: Optional[float] = None
    failure: Optional[str] = None

    @property
    def median(self) -> Optional[float]:
        return benchlib.median(self.times) if self.times else None


@dataclass
class TestRun:
    """What ``pytest -m cuda`` said."""

    command: List[str]
    returncode: Optional[int]  # None: it ran past its time limit
    output: str
    seconds: float

    @property
    def summary(self) -> str:
        lines = [line.strip(" =") for line in self.output.splitlines() if line.strip(" =")]
        return lines[-1] if lines else "no output"


# ---------------------------------------------------------------- the ASR model
def asr_args(vocab: int) -> argparse.Namespace:
    """ESPnet's ASR options from the recipe's paper-size config, with a ``vocab``-token list."""
    with no_nltk_downloads():
        from espnet2.tasks.asr import ASRTask

    config = models.recipe_config(models.ASR_CONFIGS["efficient_conformer"])
    args = ASRTask.get_parser().parse_args(["--config", str(config)])
    args.token_list = ["<blank>", "<unk>", *(f"tok{i}" for i in range(vocab - 3)), "<sos/eos>"]
    return args


def build_asr(vocab: int) -> models.BenchModel:
    """The model ``asr_train`` would train; its "labels" are (token ids, token counts)."""
    with no_nltk_downloads():
        from espnet2.tasks.asr import ASRTask

    model = ASRTask.build_model(asr_args(vocab))
    return models.BenchModel(
        module=model,
        probs=lambda s, n: model.ctc.softmax(model.encode(s, n)[0]),  # CTC posteriors
        loss=lambda s, n, text: model(s, n, *text)[0],
        source=f"ASRTask.build_model: {models.ASR_CONFIGS['efficient_conformer']}, {vocab} tokens",
    )


def config_batch_bins() -> int:
    """The paper-size ASR config's ``batch_bins`` (numel of a padded mini-batch)."""
    return int(models.load_yaml(models.recipe_config(models.ASR_CONFIGS["efficient_conformer"]))["batch_bins"])


def asr_clips(form: Form, batch_bins: int) -> List[float]:
    """Clip lengths of the ASR batch, longest first as ESPnet sorts them.

    The GPU form fills the config's ``batch_bins`` the way ESPnet's numel sampler counts a
    batch: clips x longest clip's samples.
    """
    shortest, longest = form.asr_seconds
    count = form.asr_clips or max(1, batch_bins // round(longest * benchlib.SAMPLE_RATE))
    if count == 1:
        return [longest]
    return [longest - i * (longest - shortest) / (count - 1) for i in range(count)]


def asr_batch(clips: Sequence[float], vocab: int, device: str):
    """Zero-padded noise clips with random token targets, padded with ESPnet's ignore id -1."""
    gen = torch.Generator().manual_seed(0)
    samples = [round(s * benchlib.SAMPLE_RATE) for s in clips]
    tokens = [max(1, math.ceil(TOKENS_PER_SECOND * s)) for s in clips]
    speech = torch.zeros(len(clips), max(samples))
    text = torch.full((len(clips), max(tokens)), -1, dtype=torch.long)
    for i, (n, t) in enumerate(zip(samples, tokens)):
        speech[i, :n] = 0.1 * torch.randn(n, generator=gen)
        text[i, :t] = torch.randint(1, vocab - 1, (t,), generator=gen)  # neither <blank> nor <sos/eos>
    text_batch = (text.to(device), torch.tensor(tokens, device=device))
    return speech.to(device), torch.tensor(samples, device=device), text_batch


# ---------------------------------------------------------------- timing
def cases(form: Form, batch_bins: int) -> List[Case]:
    """Every row of the table, in the order they run (fp32 first: bf16 rows divide by it)."""
    rows = [Case(ASR, "asr", dtype, asr_clips(form, batch_bins)) for dtype in DTYPES]
    for task, (count, seconds) in ((FINETUNE, form.finetune), (INFER, form.infer)):
        rows += [Case(task, m, d, [seconds] * count) for d in DTYPES for m in ("qieemo", models.REFERENCE)]
    return rows


def step_for(case: Case, device: str, vocab: int) -> Callable[[], object]:
    """Build the case's model on ``device`` and return the call to time."""
    if case.model == "asr":
        model, batch = build_asr(vocab), asr_batch(case.clips, vocab, device)
    else:
        model, batch = models.build_model(case.model), make_batch(len(case.clips), case.clips[0], device)
    model.module.to(device)
    case.params = benchlib.count_parameters(model.module)
    mode = "infer" if case.task == INFER else "train"
    return step_function(model, mode, batch, autocast_for(device, case.dtype))


def release(device: str) -> None:
    """Free the last case's model, so each peak belongs to its own case."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def run_case(case: Case, device: str, form: Form, vocab: int) -> None:
    """Time one case; a failure (out of memory, a bug only a GPU shows) goes into its row."""
    release(device)
    torch.manual_seed(0)
    try:
        step = step_for(case, device, vocab)
        case.times = benchlib.time_calls(step, form.warmup, form.reps, device_sync(device))
        if device.startswith("cuda"):
            case.peak_gib = torch.cuda.max_memory_allocated(device) / 1024.0**3
    except Exception as exc:  # reported in the section; the other cases still run
        message = (str(exc).strip().splitlines() or [""])[0].replace("|", "/")  # it goes into a table cell
        case.failure = f"{type(exc).__name__}: {message}"
    print(f"[gpu_check] {case.task} {case.model} {case.dtype}: {case.times or case.failure}", file=sys.stderr)


def run_cuda_tests(paths: Sequence[str], timeout_s: float) -> TestRun:
    """``pytest -m cuda``; a file that cannot be imported there fails the run but hides no other test."""
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-m", "cuda"]
    command += ["--continue-on-collection-errors", *paths]
    print(f"[gpu_check] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    start = time.monotonic()
    try:
        done = subprocess.run(command, cwd=benchlib.REPO, capture_output=True, text=True, timeout=timeout_s)
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, output = None, f"ran past {timeout_s:g} s\n{exc.stdout or ''}"
    return TestRun(command, returncode, output, time.monotonic() - start)


def tests_ok(tests: TestRun, smoke: bool) -> bool:
    """Passed; or, in the smoke form, none ran because no GPU is there (pytest's exit 5)."""
    return tests.returncode == 0 or (smoke and tests.returncode == 5 and not torch.cuda.is_available())


# ---------------------------------------------------------------- the section
def batch_text(clips: Sequence[float]) -> str:
    """'16 x 4 s', or the range of a batch of mixed lengths, which ESPnet pads to its longest."""
    if len(set(clips)) == 1:
        return f"{len(clips)} x {clips[0]:g} s"
    return f"{len(clips)} x {min(clips):g}-{max(clips):g} s (padded to {max(clips):g} s)"


def find(all_cases: Sequence[Case], **want) -> Optional[Case]:
    """The case a ratio divides by (same run), if it is in the table."""
    return next((c for c in all_cases if all(getattr(c, k) == v for k, v in want.items())), None)


def speed_up(case: Case, reference: Optional[Case]) -> str:
    """Reference step time / this step time: above 1 is faster."""
    return "-" if reference is None else ratio(reference.median, case.median)


def row(case: Case, all_cases: Sequence[Case]) -> List[str]:
    label = ASR_LABEL if case.model == "asr" else models.LABELS[case.model]
    params = f"{case.params / 1e6:.1f}M" if case.params else "-"
    head = [case.task, label, params, case.dtype, batch_text(case.clips)]
    if case.median is None:
        return head + [case.failure or "not run", *["-"] * 6]
    fp32 = find(all_cases, task=case.task, model=case.model, dtype="fp32") if case.dtype != "fp32" else None
    w2v2 = find(all_cases, task=case.task, model=models.REFERENCE, dtype=case.dtype)
    return head + [
        f"{fmt(case.median)} s",
        fmt(1.0 / case.median),
        fmt(sum(case.clips) / case.median),
        speed_up(case, fp32),
        speed_up(case, w2v2),
        "-" if case.peak_gib is None else f"{case.peak_gib:.2f}",
        str(len(case.times)),
    ]


def machine_text(device: str) -> str:
    return (
        f"Machine: {benchlib.device_name(device)}; device `{device}`, torch {torch.__version__} "
        f"(CUDA {torch.version.cuda}), Python {platform.python_version()}, CPU threads {torch.get_num_threads()}. "
        f"TF32 in the fp32 rows, as this process found it: matmul {torch.backends.cuda.matmul.allow_tf32}, "
        f"cuDNN {torch.backends.cudnn.allow_tf32}."
    )


def protocol_text(form: Form, vocab: int, batch_bins: int) -> str:
    return (
        f"Protocol: every case in this one process, one after another; {form.warmup} untimed warm-up "
        f"steps, then the median of {form.reps} timed steps (reps column), synchronised with the device. "
        "A training step is forward, loss, backward and an Adam update of every parameter, in train mode "
        "(dropout and SpecAugment as configured); bf16 = `torch.autocast(dtype=torch.bfloat16)` around the "
        "forward and loss. ASR: ESPnet's `ASRTask.build_model` on `train_asr_efficient_conformer.yaml` "
        f"(CTC weight 0.3 + attention decoder), a {vocab}-token list (the IEMOCAP recipe's BPE size), "
        f"noise clips spread evenly over the batch's lengths with {TOKENS_PER_SECOND:g} random tokens per "
        f"second; the GPU form's batch is what the config's batch_bins ({batch_bins:,} padded samples) holds. "
        "Emotion models: `bench/models.py` (paper-size Qieemo from `train_emo_qieemo.yaml` with the paper-size "
        "encoder, the wav2vec 2.0 base-size classifier), steps as `bench/measure.py` times them. "
        "Audio s / s counts unpadded audio. bf16 speed-up = fp32 step time / bf16 step time of the same "
        "model; vs w2v2 = wav2vec 2.0's step time / the model's, same task and dtype. Peak = "
        "`torch.cuda.max_memory_allocated` per case (weights, gradients, Adam state and activations); "
        "'-' on the CPU."
    )


def tests_text(tests: TestRun, smoke: bool) -> List[str]:
    command = "python " + " ".join(tests.command[1:])
    verdict = "passed" if tests.returncode == 0 else "FAILED"
    if tests_ok(tests, smoke) and tests.returncode == 5:
        verdict = "none ran: no CUDA device, so every `cuda` test was deselected"
    lines = [f"CUDA tests (`{command}`, {tests.seconds:.0f} s): {verdict}; pytest: {tests.summary}."]
    if not tests_ok(tests, smoke):
        lines += ["", "```", *tests.output.strip().splitlines()[-40:], "```"]
    return lines


def section(form: Form, device: str, all_cases: Sequence[Case], tests: TestRun, wall_s: float, opts) -> str:
    smoke = form is SMOKE
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = "## GPU check: CPU smoke form, not GPU figures" if smoke else "## GPU check (issue 20, `make gpu-check`)"
    lines = [title, ""]
    if smoke:
        lines += [
            "**CPU smoke form, not GPU figures**: tiny batches, one timed step each, on the CPU. It only "
            "shows that `bench/gpu_check.py` runs end to end; `make gpu-check` on a GPU writes the real "
            "section, which RESULTS.md includes.",
            "",
        ]
    lines += [
        machine_text(device),
        protocol_text(form, opts.vocab, opts.batch_bins),
        f"Run by `python bench/gpu_check.py` ({form.name} form) on {now}, {wall_s:.0f} s wall in all.",
        "",
        *tests_text(tests, smoke),
        "",
        benchlib.table(COLUMNS, [row(c, all_cases) for c in all_cases]),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- main
def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="the tiny CPU form even where a GPU is")
    parser.add_argument("--out", type=Path, help="section file (default: by form, see above)")
    parser.add_argument("--tests", nargs="+", default=["tests"], help="what `pytest -m cuda` collects")
    parser.add_argument("--vocab", type=int, default=5000, help="ASR token list size (the recipe's --nbpe)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="cases past this wall time are not run")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_parser()
    opts = parser.parse_args(argv)
    smoke = opts.cpu_smoke or not torch.cuda.is_available()
    form, device = (SMOKE, "cpu") if smoke else (GPU, "cuda")
    out = opts.out or (SMOKE_SECTION if smoke else run_all.GPU_CHECK)
    if smoke and out.resolve() == run_all.GPU_CHECK.resolve():
        parser.error(f"the CPU smoke form never writes the GPU section {run_all.GPU_CHECK}")
    start = time.monotonic()
    tests = run_cuda_tests(opts.tests, min(TESTS_TIMEOUT_S, opts.budget_s))
    opts.batch_bins = config_batch_bins()
    all_cases = cases(form, opts.batch_bins)
    for case in all_cases:
        if time.monotonic() - start > opts.budget_s:
            case.failure = f"not run: past the {opts.budget_s:g} s budget"
            continue
        run_case(case, device, form, opts.vocab)
    text = section(form, device, all_cases, tests, time.monotonic() - start, opts)
    print(text)
    with atomic_write(out) as f:
        f.write(text)
    if out.resolve() == run_all.GPU_CHECK.resolve():
        run_all.rebuild()
    ok = tests_ok(tests, smoke) and all(c.failure is None for c in all_cases)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
