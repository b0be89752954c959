"""Kaldi-style data dirs (``wav.scp``, ``emotion``, ``utt2spk``, ``text``) read and written safely.

Every writer goes through a temporary path and a rename, so an interrupted or failed stage
never leaves a half-written file or directory behind in place of a good one.
"""

import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Sequence, Tuple, Union

from espnet_qieemo.emo.preprocessor import read_label_list
from espnet_qieemo.utils.fileio import atomic_write

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
    with atomic_write(path) as f:
        for line in lines:
            f.write(line + "\n")


def read_labels(path: PathLike) -> List[str]:
    """The class order of a ``labels`` file (one label per line), read as training reads it."""
    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"{path}: not found; expected the class order, one label per line")
    try:
        return read_label_list(path)
    except ValueError as err:
        raise DataDirError(str(err)) from None


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


@contextmanager
def staged_dirs(out: PathLike, names: Sequence[str]) -> Iterator[Path]:
    """Build the dirs ``out/<name>`` in a staging dir; swap them all in only on success.

    Yields the staging dir, holding an empty ``<name>`` subdir per name to fill. When the
    block returns, each ``out/<name>`` is replaced by its staged copy; when it raises, the
    staging dir is removed and every previous ``out/<name>`` stays exactly as it was.
    """
    if not names:
        raise ValueError("staged_dirs: no dir names given")
    out = Path(out)
    staging = out / f".{names[0]}.staging"
    shutil.rmtree(staging, ignore_errors=True)  # left over by a killed run
    try:
        for name in names:
            (staging / name).mkdir(parents=True)
        yield staging
        replace_dirs([(staging / name, out / name) for name in names])
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def staged_dir(final: PathLike) -> Iterator[Path]:
    """:func:`staged_dirs` for one dir: yields the (empty) dir to fill in place of ``final``."""
    final = Path(final)
    with staged_dirs(final.parent, [final.name]) as staging:
        yield staging / final.name


def write_sets(out: PathLike, sets: Sequence[Tuple[str, Mapping[str, Mapping[str, str]]]]) -> None:
    """Write several data dirs ``out/<name>`` together: all of them, or none on failure."""
    with staged_dirs(out, [name for name, _ in sets]) as staging:
        for name, tables in sets:
            write_data_dir(staging / name, tables)
            logging.info(
                "%s: %d utterances, %d speakers", name, len(tables["text"]), len(set(tables["utt2spk"].values()))
            )


def keys_of(path: PathLike) -> List[str]:
    """Utterance ids of a table file, in file order."""
    return list(read_table(path, allow_empty_value=True))
