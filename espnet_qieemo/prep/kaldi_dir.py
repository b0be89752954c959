"""Kaldi-style data dirs (``wav.scp``, ``emotion``, ``utt2spk``, ``text``) read and written safely.

Every writer goes through a temporary path and a rename, so an interrupted or failed stage
never leaves a half-written file or directory behind in place of a good one.
"""
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple, Union

PathLike = Union[str, Path]
DATA_FILES = ("wav.scp", "emotion", "utt2spk", "text", "utt2num_samples")


class DataDirError(ValueError):
    """A data dir or table file that is missing or malformed; the message names it."""


def read_table(path: PathLike, allow_empty_value: bool = False) -> Dict[str, str]:
    """``<key> <value...>`` lines as an ordered dict; duplicate keys and bad lines are errors."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: file not found (expected '<utt_id> <value>' lines)")
    table: Dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 1 and not allow_empty_value:
            raise DataDirError(f"{path}:{lineno}: expected '<utt_id> <value>', got {line!r}")
        key = parts[0]
        if key in table:
            raise DataDirError(f"{path}:{lineno}: duplicate utterance id {key!r}")
        table[key] = parts[1] if len(parts) > 1 else ""
    return table


def write_table(path: PathLike, table: Mapping[str, str]) -> None:
    """Write ``<key> <value>`` lines sorted by key (Kaldi's order), atomically."""
    write_lines(path, [f"{k} {table[k]}".rstrip() for k in sorted(table)])


def write_lines(path: PathLike, lines: Iterable[str]) -> None:
    """Write text lines to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_data_dir(out: PathLike, tables: Mapping[str, Mapping[str, str]]) -> None:
    """Write one table file per name (``{"wav.scp": {...}, "emotion": {...}}``) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_table(out / name, table)


def subset_data_dir(src: PathLike, dst: PathLike, keys: Sequence[str]) -> None:
    """Copy the rows of ``keys`` from every table file in ``src`` to ``dst``."""
    src = Path(src)
    wanted = set(keys)
    tables = {
        name: {k: v for k, v in read_table(src / name, allow_empty_value=True).items() if k in wanted}
        for name in DATA_FILES
        if (src / name).is_file()
    }
    write_data_dir(dst, tables)


def replace_dirs(pairs: Sequence[Tuple[PathLike, PathLike]]) -> None:
    """Move each finished ``staged`` dir onto its ``final`` path, replacing an older one.

    Called only after everything in the stage succeeded, so a failed run leaves the previous
    results untouched.
    """
    for staged, final in pairs:
        final = Path(final)
        old = final.with_name(f".{final.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        if old.exists():
            shutil.rmtree(old)


def write_sets(out: PathLike, sets: Sequence[Tuple[str, Mapping[str, Mapping[str, str]]]]) -> None:
    """Write several data dirs ``out/<name>`` together: all of them, or none on failure."""
    out = Path(out)
    staging = out / ".sets.staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, tables in sets:
            write_data_dir(staging / name, tables)
            logging.info("%s: %d utterances, %d speakers", name, len(tables["text"]),
                         len(set(tables["utt2spk"].values())))
        replace_dirs([(staging / name, out / name) for name, _ in sets])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def keys_of(path: PathLike) -> List[str]:
    """Utterance ids of a table file, in file order."""
    return list(read_table(path, allow_empty_value=True))
