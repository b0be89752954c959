"""Open ESPnet model archives and model-hub folders without trusting them.

ESPnet's ``pack_funcs.unpack`` writes each member, and each rewritten yaml file, at the path
the archive gives, so an archive from elsewhere can write anywhere (``../``, absolute names,
links) or fill the disk. ``unpack`` reads the same format (a zip or tar with ``meta.yaml`` at
its root naming ``yaml_files`` and ``files``) and returns the same ``{key: path}``, but checks
every member and every ``meta.yaml`` entry before it writes anything, caps the size, and
writes only regular files inside the target folder. ``model_files`` also takes that format
unpacked (a model-hub folder), reading its files where they are.
"""

import argparse
import gzip
import io
import sys
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from stat import S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Union

import yaml

from espnet_qieemo.utils.fileio import atomic_write

META = "meta.yaml"
# Far above any real model (the paper-size emotion model is about 200 MB), far below a full disk.
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_MEMBERS = 10_000
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz")  # ESPnet's Archiver
CHUNK = 1 << 20
ZIP_KINDS = {
    S_IFLNK: "symbolic link",
    S_IFCHR: "character device",
    S_IFBLK: "block device",
    S_IFIFO: "FIFO",
    S_IFSOCK: "socket",
}
# What a damaged or truncated archive raises while its data is read.
DAMAGED = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)

PathLike = Union[str, Path]


class UnsafeArchiveError(ValueError):
    """An archive or model folder asks for something no model needs (a path leaving its folder,
    a link, a device, too much data). Names, kinds, meta.yaml and declared sizes are checked
    before anything is written; a member longer than it declared is stopped at that length."""


@dataclass(frozen=True)
class Member:
    name: str  # relative POSIX path
    size: int  # declared uncompressed size in bytes
    is_dir: bool
    open: Callable[[], IO[bytes]]


def _unsafe(source: Path, problem: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{source}: unsafe archive, refused before writing anything: {problem}")


def _safe_name(name: str, source: Path, what: str) -> str:
    """``name`` as a relative POSIX path that stays inside its folder (Windows forms included)."""
    as_windows = PureWindowsPath(name)  # splits on both separators, sees drives and roots
    if as_windows.anchor:
        raise _unsafe(source, f"{what} {name!r} is an absolute path")
    if ".." in as_windows.parts:
        raise _unsafe(source, f"{what} {name!r} contains '..'")
    if not as_windows.parts:
        raise _unsafe(source, f"{what} {name!r} is empty")
    return PurePosixPath(name).as_posix()


def _zip_members(zf: zipfile.ZipFile, source: Path) -> Iterator[Member]:
    for info in zf.infolist():
        kind = S_IFMT(info.external_attr >> 16)  # Unix mode; 0 from archivers that store none
        if kind not in (0, S_IFREG, S_IFDIR):
            raise _unsafe(source, f"member {info.filename!r} is a {ZIP_KINDS.get(kind, 'special file')}")
        yield Member(info.filename, info.file_size, info.is_dir(), lambda i=info: zf.open(i))


def _tar_kind(info: tarfile.TarInfo) -> Optional[str]:
    """What makes a tar member unsafe, or None for a plain file or folder."""
    for test, kind in (
        (info.issym, "symbolic link"),
        (info.islnk, "hard link"),
        (info.ischr, "character device"),
        (info.isblk, "block device"),
        (info.isfifo, "FIFO"),
        (info.issparse, "sparse file"),
    ):
        if test():
            return kind
    return None if info.isreg() or info.isdir() else "special member"


def _tar_members(tf: tarfile.TarFile, source: Path) -> Iterator[Member]:
    for info in tf:  # lazily: a bomb's declared sizes are seen before its data is read
        kind = _tar_kind(info)
        if kind is not None:
            raise _unsafe(source, f"member {info.name!r} is a {kind}")
        yield Member(info.name, info.size, info.isdir(), lambda i=info: tf.extractfile(i))


@contextmanager
def _archive_members(archive: Path) -> Iterator[Iterator[Member]]:
    if archive.is_dir():
        raise ValueError(f"{archive}: a folder without {META} at its root (not an unpacked model archive)")
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: no such model archive")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                yield _zip_members(zf, archive)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                yield _tar_members(tf, archive)
        else:
            raise ValueError(f"{archive}: not a zip or tar model archive (or a truncated one)")
    except DAMAGED as err:
        raise ValueError(f"{archive}: damaged or truncated archive ({err})") from None


def _checked(members: Iterable[Member], source: Path) -> Dict[str, Member]:
    """Names, count and declared sizes, every one checked before anything is written."""
    found: Dict[str, Member] = {}
    total = 0
    for member in members:
        if member.is_dir and PurePosixPath(member.name) == PurePosixPath("."):
            continue  # the "./" of `tar -C folder .`: the target folder itself
        name = _safe_name(member.name, source, "member")
        if name in found:
            raise _unsafe(source, f"member {name!r} appears twice")
        if len(found) == MAX_MEMBERS:
            raise _unsafe(source, f"more than {MAX_MEMBERS} members")
        total += member.size
        if total > MAX_TOTAL_BYTES:
            raise _unsafe(source, f"member {name!r} takes the unpacked size past {MAX_TOTAL_BYTES} bytes")
        found[name] = replace(member, name=name)
    return found


def _copy_capped(src: IO[bytes], dst: IO[bytes], limit: int, what: str) -> None:
    """Copy at most ``limit`` bytes: a member that yields more than it declared is refused."""
    done = 0
    while chunk := src.read(min(CHUNK, limit - done + 1)):
        done += len(chunk)
        if done > limit:
            raise UnsafeArchiveError(f"{what} expands beyond its declared {limit} bytes")
        dst.write(chunk)


def _read_yaml(member: Member, source: Path) -> Any:
    with member.open() as src:
        data = io.BytesIO()
        _copy_capped(src, data, member.size, f"{source}: unsafe archive: member {member.name!r}")
    return _parse_yaml(data.getvalue(), source, member.name)


def _parse_yaml(text: Union[bytes, str], source: Path, name: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: {name} is not valid YAML ({err})") from None


def _meta_entries(meta: Any, source: Path, is_file: Callable[[str], bool]) -> Dict[str, Dict[str, str]]:
    """``yaml_files`` and ``files`` of meta.yaml, each the safe name of a file of the model."""
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: {META} is not a mapping (not an ESPnet model archive)")
    entries = {}
    for group in ("yaml_files", "files"):
        values = meta.get(group) or {}
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ValueError(f"{source}: {META} {group} must map names to paths")
        entries[group] = {key: _safe_name(value, source, f"{META} {group}.{key}") for key, value in values.items()}
        for key, name in entries[group].items():
            if not is_file(name):
                raise _unsafe(source, f"{META} {group}.{key} names {name!r}, which is not a file in it")
    return entries


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` (nested dicts and lists from YAML) with ``change`` applied to every string."""
    if isinstance(value, dict):
        return {k: map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [map_strings(v, change) for v in value]
    return change(value) if isinstance(value, str) else value


def _write_yaml(path: Path, config: Any, root: Path, is_file: Callable[[str], bool]) -> None:
    """The config with every string that names a file of the model made absolute under
    ``root``, as ESPnet's unpack does; the rest as it was."""

    def rooted(value: str) -> str:
        name = PurePosixPath(value)
        inside = value and not name.is_absolute() and ".." not in name.parts
        return str(root / name) if inside and is_file(name.as_posix()) else value

    with atomic_write(path) as f:
        yaml.safe_dump(map_strings(config, rooted), f)


def _inside(target: Path, name: str, source: Path) -> Path:
    """``target / name``, refused where a link already in ``target`` would lead elsewhere."""
    path = target / name
    if not path.resolve().is_relative_to(target.resolve()):
        raise _unsafe(source, f"member {name!r} would be written outside {target} (through a link there)")
    return path


def _file_names(members: Dict[str, Member]) -> Set[str]:
    return {name for name, member in members.items() if not member.is_dir}


def _meta_of(members: Dict[str, Member], archive: Path) -> Dict[str, Dict[str, str]]:
    if META not in members or members[META].is_dir:
        raise ValueError(f"{archive}: no {META} at its root (not an ESPnet model archive)")
    return _meta_entries(_read_yaml(members[META], archive), archive, _file_names(members).__contains__)


def unpack(archive: PathLike, target: PathLike) -> Dict[str, str]:
    """ESPnet's ``unpack`` (same format, same ``{key: path}``), checked first, written only under
    ``target``. A member found damaged while writing stops it; what came before stays there."""
    archive, target = Path(archive), Path(target)
    with _archive_members(archive) as listed:
        members = _checked(listed, archive)
        entries = _meta_of(members, archive)
        yaml_names = set(entries["yaml_files"].values())
        paths = {name: _inside(target, name, archive) for name in members}
        target.mkdir(parents=True, exist_ok=True)
        for name, member in members.items():
            path = paths[name]
            if member.is_dir:
                path.mkdir(parents=True, exist_ok=True)
            elif name in yaml_names:
                _write_yaml(path, _read_yaml(member, archive), target, _file_names(members).__contains__)
            else:  # whole files only: DDP ranks unpack the same archive into the same folder
                with member.open() as src, atomic_write(path, "wb") as dst:
                    _copy_capped(src, dst, member.size, f"{archive}: unsafe archive: member {name!r}")
    return {key: str(target / name) for group in entries.values() for key, name in group.items()}


def is_archive(path: PathLike) -> bool:
    """A file named or made like a zip or tar (named: a truncated one is then refused as such)."""
    path = Path(path)
    return path.is_file() and (
        path.name.endswith(ARCHIVE_SUFFIXES) or zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    )


def is_model_folder(path: PathLike) -> bool:
    """The model-hub layout: an archive unpacked, ``meta.yaml`` at the root."""
    return Path(path).is_dir() and (Path(path) / META).is_file()


def _folder_has(root: Path) -> Callable[[str], bool]:
    return lambda name: (root / name).is_file()


def _folder_entries(root: Path) -> Dict[str, Dict[str, str]]:
    return _meta_entries(_parse_yaml((root / META).read_bytes(), root, META), root, _folder_has(root))


def _open_model_folder(root: Path, workdir: Path) -> Dict[str, str]:
    """``{key: path}`` of a model-hub folder, its relative paths resolved from its root.

    Only the yaml files are written (rewritten, into ``workdir``); the other files are read
    where they are, so the folder may be read-only (a hub cache, whose files may be links into
    its blob store).
    """
    entries = _folder_entries(root)
    for name in entries["yaml_files"].values():
        config = _parse_yaml((root / name).read_bytes(), root, name)
        _write_yaml(workdir / name, config, root, _folder_has(root))
    configs = {key: str(workdir / name) for key, name in entries["yaml_files"].items()}
    return {**configs, **{key: str(root / name) for key, name in entries["files"].items()}}


def check_model(source: PathLike) -> Dict[str, Dict[str, str]]:
    """Every check ``model_files`` makes before it writes, writing nothing; meta.yaml's entries."""
    source = Path(source)
    if is_model_folder(source):
        return _folder_entries(source)
    with _archive_members(source) as members:
        return _meta_of(_checked(members, source), source)


def model_files(source: PathLike, workdir: PathLike) -> Dict[str, str]:
    """``{key: path}`` of an ESPnet model archive (unpacked into ``workdir``) or model-hub folder
    (its yaml files rewritten into ``workdir``)."""
    source, workdir = Path(source), Path(workdir)
    return _open_model_folder(source, workdir) if is_model_folder(source) else unpack(source, workdir)


def main(argv: Optional[List[str]] = None) -> None:
    """``python -m espnet_qieemo.utils.safe_unpack MODEL``: exit with the reason if loading MODEL
    would refuse it. Recipes run it before their first stage; an exp dir or a config.yaml has
    nothing to unpack and passes."""
    parser = argparse.ArgumentParser(description="Check a model archive or model-hub folder, writing nothing")
    parser.add_argument("model", type=Path, help="model archive (zip, tar) or model-hub folder")
    model = parser.parse_args(argv).model
    if is_archive(model) or is_model_folder(model):
        try:
            check_model(model)
        except (FileNotFoundError, ValueError) as err:
            sys.exit(str(err))


if __name__ == "__main__":
    main()
