"""Rank ASR pilot runs by a validation metric from ESPnet's train.log; print the winner.

A short pilot of each candidate recipe is the cheap way to see which one leaves the CTC
plateau first. ESPnet keeps every epoch's validation averages in its reporter (in
``checkpoint.pth``, across resumes) and logs them (``<n>epoch results: [train] ..., [valid]
cer_ctc=..., ...`` in ``train.log``, which a resumed run starts anew); the reporter is read where
it exists, else the log. The winner is the candidate with the lowest value of the metric at the
last epoch that every pilot reached, so a pilot that ran longer (the winner's long run resumes
it) has no advantage. Only validation numbers are read.

Usage (from a recipe dir): ``python -m pyscripts.asr_pilots --pilot base exp/asr_x_base
--pilot fast exp/asr_x_fast [--metric cer_ctc] --table exp/asr_pilots.md``; prints the name.
"""

import argparse
import datetime
import re
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from pyscripts.kaldi_dir import DataDirError, write_lines

EPOCH_LINE = re.compile(r"(\d+)epoch results: .*?\[valid\] (.*?)(?:, \[|$)")


def reporter_history(checkpoint: Path, part: str = "valid") -> Dict[int, Dict[str, float]]:
    """Epoch -> averages of one part ("train" or "valid") from the trainer's reporter, read as
    data (no pickled code); durations in seconds."""
    from espnet_qieemo.utils.weights import read_state_dict  # torch only when a checkpoint is read

    stats = read_state_dict(checkpoint)["reporter"]["stats"]
    return {int(epoch): number_values(values.get(part, {})) for epoch, values in stats.items()}


def number_values(values: Dict[str, object]) -> Dict[str, float]:
    numbers = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
    numbers.update({k: v.total_seconds() for k, v in values.items() if isinstance(v, datetime.timedelta)})
    return numbers


def pilot_history(exp_dir: Path) -> Dict[int, Dict[str, float]]:
    checkpoint = exp_dir / "checkpoint.pth"
    return reporter_history(checkpoint) if checkpoint.is_file() else valid_history(exp_dir / "train.log")


def valid_history(train_log: Path) -> Dict[int, Dict[str, float]]:
    """Epoch -> validation averages, from one ESPnet train.log."""
    if not train_log.is_file():
        raise DataDirError(f"{train_log}: not found; run the pilot first")
    history: Dict[int, Dict[str, float]] = {}
    for line in train_log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = EPOCH_LINE.search(line)
        if not match:
            continue
        values = {}
        for item in match.group(2).split(", "):
            key, _, value = item.partition("=")
            try:
                values[key] = float(value)
            except ValueError:
                continue
        history[int(match.group(1))] = values
    if not history:
        raise DataDirError(f"{train_log}: no '<n>epoch results' line; the pilot has not finished an epoch")
    return history


def rank(pilots: Sequence[Tuple[str, Path]], metric: str) -> Tuple[int, List[Tuple[str, float, Dict[str, float]]]]:
    """(epoch compared, [(name, metric, all values)] best first) at the last epoch all reached."""
    histories = {name: pilot_history(Path(d)) for name, d in pilots}
    epoch = min(max(h) for h in histories.values())
    rows = []
    for name, history in histories.items():
        values = history[epoch]
        if metric not in values:
            raise DataDirError(f"pilot {name}: no valid {metric} at epoch {epoch} (logged: {sorted(values)})")
        rows.append((name, values[metric], values))
    return epoch, sorted(rows, key=lambda r: r[1])


def table(epoch: int, rows: List[Tuple[str, float, Dict[str, float]]], metric: str) -> List[str]:
    cols = [c for c in ("cer_ctc", "cer", "wer", "acc", "loss_ctc", "loss_att") if c in rows[0][2]]
    lines = [
        f"Pilots ranked by validation {metric} at epoch {epoch} (lower is better; ESPnet's validation averages).",
        "",
    ]
    lines += ["| candidate | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, _, values in rows:
        lines.append(f"| {name} | " + " | ".join(f"{values[c]:.4g}" for c in cols) + " |")
    return lines


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pilot", nargs=2, action="append", required=True, metavar=("NAME", "EXP_DIR"))
    parser.add_argument("--metric", default="cer_ctc", help="a validation value ESPnet logs; lower is better")
    parser.add_argument("--table", type=Path, help="also write the ranking here (markdown)")
    args = parser.parse_args(argv)
    try:
        epoch, rows = rank([(n, Path(d)) for n, d in args.pilot], args.metric)
    except DataDirError as err:
        sys.exit(f"ERROR: ASR pilots: {err}")
    if args.table:
        write_lines(args.table, table(epoch, rows, args.metric))
    print(rows[0][0])


if __name__ == "__main__":
    main()
