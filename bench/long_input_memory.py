"""Peak memory of the long-input stages, ESPnet's one pass against the chunked path (issue 7).

Two stages decided whether a 10-minute recording fits: the STFT/log-mel frontend (ESPnet's
``DefaultFrontend``, whose padding mask is a (frames+1)^2 matrix) and relative-position
attention at the rate of the efficient conformer's blocks 4-11 (7,500 frames at 10 minutes).
Each (stage, path) runs alone in a fresh process under ``torch.inference_mode``; the table
gives its peak RSS and the growth over the RSS before the call. Prints its markdown section.

    python bench/long_input_memory.py [--seconds 600]
"""

import argparse
import contextlib
import json
import sys
from typing import Callable, Dict

import benchlib
import torch

with contextlib.redirect_stdout(sys.stderr):
    from espnet_qieemo._offline import no_nltk_downloads

    with no_nltk_downloads():
        from espnet.nets.pytorch_backend.transformer.attention import (
            RelPositionMultiHeadedAttention,
        )
        from espnet.nets.pytorch_backend.transformer.embedding import RelPositionalEncoding
        from espnet2.asr.frontend.default import DefaultFrontend

    from espnet_qieemo.asr.encoder.efficient_conformer_layers import (
        ChunkedRelPositionMultiHeadedAttention,
    )
    from espnet_qieemo.utils.long_frontend import utterance_feats

FRAMES_PER_SECOND = 12.5  # blocks 4-11 of the paper-size efficient conformer (80 ms)


def frontend_call(chunked: bool, seconds: float) -> Callable[[], object]:
    frontend = DefaultFrontend(fs=benchlib.SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160)
    wav = 0.1 * torch.randn(1, int(seconds * benchlib.SAMPLE_RATE))
    lens = torch.tensor([wav.size(1)])
    run = utterance_feats if chunked else lambda f, w, n: f(w, n)
    return lambda: run(frontend.eval(), wav, lens)


def attention_call(chunked: bool, seconds: float) -> Callable[[], object]:
    cls = ChunkedRelPositionMultiHeadedAttention if chunked else RelPositionMultiHeadedAttention
    attn = cls(4, 256, 0.0).eval()
    x, pos_emb = RelPositionalEncoding(256, 0.0)(torch.randn(1, int(seconds * FRAMES_PER_SECOND), 256))
    mask = torch.ones(1, 1, x.size(1), dtype=torch.bool)
    return lambda: attn(x, x, x, pos_emb, mask)


STAGES: Dict[str, Callable[[bool, float], Callable[[], object]]] = {
    "log-mel frontend (ESPnet DefaultFrontend)": frontend_call,
    "rel-pos attention, 4 heads x 256, 80 ms frames": attention_call,
}


def child(stage: str, chunked: bool, seconds: float) -> None:
    call = STAGES[stage](chunked, seconds)
    before = benchlib.rss_mib()
    with torch.inference_mode():
        call()
    print(json.dumps({"rss_before_mib": before, "peak_rss_mib": benchlib.rss_mib(key="VmHWM")}))


def cell(res: benchlib.IsolatedResult) -> str:
    if res.report is None:
        seen = f", >= {res.watched_peak_mib / 1024:.2f} GiB seen" if res.watched_peak_mib else ""
        return f"{res.failure}{seen}"
    rep = res.report
    growth = (rep["peak_rss_mib"] - rep["rss_before_mib"]) / 1024
    return f"{rep['peak_rss_mib'] / 1024:.2f} GiB (+{growth:.2f})"


def section(opts) -> str:
    rows = []
    for stage in STAGES:
        cells = []
        for chunked in (False, True):
            command = [sys.executable, __file__, "--child", stage, "--seconds", str(opts.seconds),
                       "--threads", str(opts.threads)] + (["--chunked"] if chunked else [])  # fmt: skip
            cells.append(cell(benchlib.run_isolated(command, opts.memory_cap_gib * 1024, opts.time_limit_s)))
            print(f"[long_input_memory] {stage} chunked={chunked}: {cells[-1]}", file=sys.stderr, flush=True)
        rows.append([stage, f"{opts.seconds:g} s", *cells])
    protocol = (
        "each stage alone on one input of the given length, batch 1, random weights and "
        "noise, in a fresh process; peak = RSS high-water mark (`VmHWM`), in brackets its "
        "growth over the RSS just before the call. One pass = ESPnet's module called as is; "
        "chunked = the path Qieemo uses (`utils/long_frontend.py`, "
        "`ChunkedRelPositionMultiHeadedAttention`), whose outputs equal the one pass."
    )
    return "\n".join([
        "## Long-input memory by stage (issue 7)", "",
        benchlib.context_lines(opts, protocol), "",
        benchlib.table(["stage", "input", "one pass (ESPnet) peak", "chunked peak"], rows), "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="60 s instead of 10 minutes")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--memory-cap-gib", type=float, default=12.0, help="a run above this RSS is stopped")
    parser.add_argument("--time-limit-s", type=float, default=300.0, help="per measurement run")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--child", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--chunked", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    opts.device, opts.dtype = "cpu", "fp32"  # RSS is CPU memory: no GPU variant
    torch.set_num_threads(opts.threads)
    if opts.child:
        child(opts.child, opts.chunked, opts.seconds)
    else:
        if opts.quick:
            opts.seconds = min(opts.seconds, 60.0)
        print(section(opts))


if __name__ == "__main__":
    main()
