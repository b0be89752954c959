"""Hostile model files: archives that try to write outside the folder they are unpacked into or
to fill the disk, and a checkpoint whose pickle runs code. Tests open them, then check on disk
that nothing appeared outside that folder."""

import builtins
import io
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Dict, Iterable, Set, Tuple, Union

import torch
import yaml

ESCAPE = "../../escaped.yaml"  # two levels above the folder the archive is unpacked into
CONFIG, WEIGHTS = "exp/emo/config.yaml", "exp/emo/model.pth"
Data = Union[str, bytes]


def meta_yaml(config: str = CONFIG, weights: str = WEIGHTS) -> str:
    """ESPnet's meta.yaml for one yaml file and one model file."""
    return yaml.safe_dump({"yaml_files": {"train_config": config}, "files": {"model_file": weights}})


def model_members(**extra: Data) -> Dict[str, Data]:
    """A well-formed model archive's members (meta.yaml, config, weights), plus ``extra``."""
    config = f"normalize_conf:\n  stats_file: {WEIGHTS}\n"
    return {"meta.yaml": meta_yaml().encode(), CONFIG: config.encode(), WEIGHTS: b"w", **extra}


def write_zip(path: Path, members: Dict[str, Data]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def zip_symlink(path: Path, name: str, target: str) -> Path:
    """A model zip with ``name`` stored as a Unix symbolic link to ``target``."""
    write_zip(path, model_members())
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777) << 16  # S_IFLNK | rwxrwxrwx
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, target)
    return path


TarMember = Tuple[tarfile.TarInfo, bytes]


def tar_member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> TarMember:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def write_tar(path: Path, members: Iterable[TarMember], mode: str = "w:gz") -> Path:
    """A tar whose members are named exactly as given (tarfile keeps '../' and leading '/')."""
    model = [tar_member(name, data) for name, data in model_members().items()]
    with tarfile.open(path, mode) as tf:
        for info, data in [*model, *members]:
            tf.addfile(info, io.BytesIO(data))
    return path


def understate_size(path: Path, name: str, size: int) -> Path:
    """Rewrite the uncompressed size the zip states for ``name`` (local header and central
    directory): a member that expands to more than it claims."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info, start = zf.getinfo(name), zf.start_dir
    struct.pack_into("<I", raw, info.header_offset + 22, size)
    central = start  # the first central directory record
    while raw[central + 46 : central + 46 + len(name)] != name.encode():
        central = raw.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", raw, central + 24, size)
    path.write_bytes(bytes(raw))
    return path


class RunsCode:
    """Unpickling this calls ``exec``, which writes ``marker``: what any code in a pickle could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def code_running_checkpoint(path: Path, marker: Path, state: Dict[str, torch.Tensor] = None) -> Path:
    """A .pth holding the weights ``state`` and an object whose unpickling writes ``marker``."""
    torch.save({**(state or {}), "payload": RunsCode(marker)}, path)
    return path


def paths_outside(root: Path, inside: Path) -> Set[Path]:
    """Every path under ``root`` but not under ``inside``: equal before and after, nothing escaped."""
    return {p for p in root.rglob("*") if p != inside and inside not in p.parents}
