"""The learning curve of one ESPnet ASR run, per epoch, as a markdown table.

The backbones' README reports each run's curve; this writes it from the run itself, so the
figures can be re-made: ESPnet's reporter (``checkpoint.pth``, kept across resumes) holds every
epoch's training and validation averages, the cumulative update count and each part's wall time.

Usage (from a recipe dir): ``python -m pyscripts.asr_curve exp/asr_train_x [--out curve.md]``
"""

import argparse
import math
import sys
from pathlib import Path
from typing import Dict, List, Sequence

from pyscripts.asr_pilots import reporter_history
from pyscripts.kaldi_dir import DataDirError, write_lines

# (row name, reporter part, key, format); a row is left out where the run logged no such value
ROWS = (
    ("train CTC loss", "train", "loss_ctc", "{:.1f}"),
    ("valid CTC loss", "valid", "loss_ctc", "{:.1f}"),
    ("valid CTC CER", "valid", "cer_ctc", "pct"),
    ("valid token acc.", "valid", "acc", "pct"),
    ("updates", "train", "total_count", "{:.0f}"),
    ("epoch wall time", "both", "time", "time"),
)


def curve(exp_dir: Path) -> Dict[str, Dict[int, Dict[str, float]]]:
    checkpoint = exp_dir / "checkpoint.pth"
    if not checkpoint.is_file():
        raise DataDirError(f"{checkpoint}: not found; the run has not finished an epoch (or is not an ESPnet exp dir)")
    return {part: reporter_history(checkpoint, part) for part in ("train", "valid")}


def cell(history: Dict[str, Dict[int, Dict[str, float]]], epoch: int, part: str, key: str, fmt: str) -> str:
    if part == "both":
        seconds = sum(history[p][epoch].get(key, 0.0) for p in ("train", "valid"))
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    value = history[part][epoch].get(key, float("nan"))
    return f"{100 * value:.1f} %" if fmt == "pct" else fmt.format(value)


def logged(values: Dict[str, float], key: str) -> bool:
    """False where not logged, or NaN (a CTC-only model has no token accuracy)."""
    return key in values and not math.isnan(values[key])


def table(history: Dict[str, Dict[int, Dict[str, float]]]) -> List[str]:
    epochs = sorted(history["valid"])
    lines = ["| epoch | " + " | ".join(map(str, epochs)) + " |", "|---" * (len(epochs) + 1) + "|"]
    for name, part, key, fmt in ROWS:
        parts = ("train", "valid") if part == "both" else (part,)
        if not all(logged(history[p][e], key) for p in parts for e in epochs):
            continue
        lines.append(f"| {name} | " + " | ".join(cell(history, e, part, key, fmt) for e in epochs) + " |")
    return lines


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exp_dir", type=Path)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    try:
        lines = table(curve(args.exp_dir))
    except DataDirError as err:
        sys.exit(f"ERROR: ASR curve: {err}")
    if args.out:
        write_lines(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
