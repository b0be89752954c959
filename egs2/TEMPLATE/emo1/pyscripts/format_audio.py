"""Audio formatting: every utterance as 16 kHz mono, with its length.

Files already at the target rate and mono (wav/flac) are referenced where they are; others
are down-mixed, resampled and written as 16-bit PCM under ``<dst>/data``. Unreadable,
silent or too-short utterances are excluded from every table of the dir, listed in
``<dst>/excluded`` (``utt reason``) and counted in the log. ``<dst>`` is built in a staging
dir and swapped in only when complete.

Usage (from a recipe dir): ``python -m pyscripts.format_audio --set data/asr_train dump/raw/asr_train
[--set SRC DST ...]`` (one process for all sets: importing torch for resampling is slow)
"""

import argparse
import logging
import sys
from collections import Counter
from functools import partial
from multiprocessing.pool import ThreadPool
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import soundfile

from espnet_qieemo.utils import audio
from pyscripts.kaldi_dir import DATA_FILES, DataDirError, read_table, staged_dir, write_data_dir

KEEP_SUFFIXES = (".wav", ".flac")


def format_one(
    item: Tuple[str, str], dst_data: Path, final_data: Path, fs: int, min_samples: int
) -> Tuple[str, Optional[str], int, str]:
    """(utt, path in the formatted wav.scp or None, samples, reason when excluded)."""
    utt, path = item
    try:
        signal, src_fs = audio.read(path)
        mono = audio.prepare(signal, src_fs, fs)
    except audio.AudioError as err:
        return utt, None, 0, f"unreadable: {err}"
    if len(mono) < min_samples:
        return utt, None, len(mono), f"too short: {len(mono) / fs:.3f}s < {min_samples / fs:.3f}s"
    if src_fs == fs and signal.shape[1] == 1 and Path(path).suffix.lower() in KEEP_SUFFIXES:
        return utt, str(Path(path).resolve()), len(mono), ""
    soundfile.write(str(dst_data / f"{utt}.wav"), mono, fs, subtype="PCM_16")
    return utt, str(final_data / f"{utt}.wav"), len(mono), ""


def format_dir(src: Path, dst: Path, fs: int = 16000, min_duration: float = 0.2, nj: int = 1) -> Dict[str, int]:
    """Format ``src`` into ``dst``; returns counts of kept and excluded utterances."""
    wavs = read_table(src / "wav.scp")
    if not wavs:
        raise DataDirError(f"{src}/wav.scp: empty; expected '<utt_id> <audio path>' lines")
    dst = dst.resolve()
    with staged_dir(dst) as staging:
        (staging / "data").mkdir()
        work = partial(
            format_one, dst_data=staging / "data", final_data=dst / "data", fs=fs, min_samples=int(min_duration * fs)
        )
        # Threads, not processes: decoding and resampling release the GIL, and forking a
        # process that already runs torch's thread pool can deadlock.
        with ThreadPool(max(1, nj)) as pool:
            results = pool.map(work, sorted(wavs.items()), chunksize=16)
        kept = {utt: (path, n) for utt, path, n, _ in results if path is not None}
        excluded = {utt: reason for utt, path, _, reason in results if path is None}
        if not kept:
            raise DataDirError(f"{src}: every utterance was excluded, e.g. {list(excluded.items())[:3]}")
        tables = {
            name: {k: v for k, v in read_table(src / name, allow_empty_value=True).items() if k in kept}
            for name in DATA_FILES
            if name not in ("wav.scp", "utt2num_samples") and (src / name).is_file()
        }
        tables["wav.scp"] = {utt: path for utt, (path, _) in kept.items()}
        tables["utt2num_samples"] = {utt: str(n) for utt, (_, n) in kept.items()}
        tables["excluded"] = excluded
        write_data_dir(staging, tables)
    kinds = Counter(reason.split(":")[0] for reason in excluded.values())
    logging.info("%s -> %s: kept %d, excluded %d %s", src, dst, len(kept), len(excluded), dict(kinds))
    if excluded:
        logging.warning(
            "%s: %d utterance(s) excluded (%s); see %s/excluded",
            src,
            len(excluded),
            ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())),
            dst,
        )
    return {"kept": len(kept), "excluded": len(excluded)}


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set",
        nargs=2,
        type=Path,
        action="append",
        required=True,
        metavar=("SRC", "DST"),
        help="Kaldi data dir with wav.scp, and the formatted dir to (re)create",
    )
    parser.add_argument("--fs", type=int, default=16000, help="target sample rate")
    parser.add_argument("--min_duration", type=float, default=0.2, help="shorter utterances are excluded (s)")
    parser.add_argument("--nj", type=int, default=1, help="parallel worker threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        for src, dst in args.set:
            format_dir(src, dst, args.fs, args.min_duration, args.nj)
    except DataDirError as err:
        sys.exit(f"ERROR: audio formatting: {err}")


if __name__ == "__main__":
    main()
