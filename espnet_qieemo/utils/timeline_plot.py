"""``qieemo timeline --plot``: class probabilities over time, segment boundaries, labels.

Each segment's probabilities are drawn as a step over [start, end) (overlapping fixed
windows: each time point shows the segment that starts last before it); time without a
classified segment is left blank. A band under the curves is coloured by the predicted
label, the label is written over segments wide enough to read it, and thin grey lines mark
segment boundaries. The figure has a fixed size, so a recording of any length gives one
readable overview; the time axis switches to minutes beyond ten minutes.
"""

from pathlib import Path
from typing import Sequence, Tuple

import numpy as np


def plot_timeline(
    done: Sequence[Tuple["object", "object"]], labels: Sequence[str], duration: float, path: Path, title=""
):
    """``done``: (segment, record) pairs in time order, as ``qieemo timeline`` writes them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, unit = (60.0, "min") if duration > 600 else (1.0, "s")
    colours = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(labels)}
    fig, (ax, band) = plt.subplots(
        2, 1, figsize=(12, 4.5), sharex=True, gridspec_kw={"height_ratios": [5, 1], "hspace": 0.05}
    )
    ok = [(s, r) for s, r in done if r.result is not None]
    edges = sorted({t for s, _ in ok for t in (s.start, s.end)})
    for c in labels:
        xs, ys = [], []
        for seg, rec in ok:
            xs += [seg.start / scale, seg.end / scale, seg.end / scale]
            ys += [rec.result.probs[c], rec.result.probs[c], np.nan]  # NaN: a gap until the next segment
        ax.step(xs, ys, where="post", color=colours[c], label=c, linewidth=1.4)
    if len(edges) <= 400:  # boundaries stay readable; beyond that the band shows the segmentation
        for t in edges:
            ax.axvline(t / scale, color="0.75", linewidth=0.5, zorder=0)
    width = duration / scale
    for seg, rec in ok:
        band.axvspan(seg.start / scale, seg.end / scale, color=colours[rec.result.label], linewidth=0)
        if (seg.end - seg.start) / max(duration, 1e-9) > 0.04:
            band.text((seg.start + seg.end) / 2 / scale, 0.5, rec.result.label, ha="center", va="center", fontsize=9)
    ax.set_xlim(0, width)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability")
    ax.legend(loc="upper right", ncol=len(labels), fontsize=9, frameon=False)
    ax.set_title(f"{title}  ({len(ok)} segments, {duration:.1f} s)" if title else f"{len(ok)} segments")
    band.set_yticks([])
    band.set_ylabel("label", rotation=0, ha="right", va="center")
    band.set_xlabel(f"time ({unit})")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
