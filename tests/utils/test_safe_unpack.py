"""Model archives and model-hub folders: real ones open as ESPnet opens them, hostile ones are
refused, naming the member, with nothing written outside the target folder."""

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from hostile_models import (
    CONFIG,
    ESCAPE,
    WEIGHTS,
    meta_yaml,
    model_members,
    paths_outside,
    tar_member,
    understate_size,
    write_tar,
    write_zip,
    zip_symlink,
)

from espnet_qieemo.utils import safe_unpack
from espnet_qieemo.utils.safe_unpack import UnsafeArchiveError, check_model, model_files, unpack

PRETRAINED = Path(__file__).resolve().parents[2] / "egs2" / "emodb_qieemo" / "emo1" / "pretrained"
SHIPPED = sorted(PRETRAINED.glob("*.zip"))


@pytest.fixture
def target(tmp_path) -> Path:
    """Where archives are unpacked: two levels down, so that ``../../`` still lands in tmp_path."""
    return tmp_path / "outer" / "inner" / "target"


@pytest.mark.parametrize("archive", SHIPPED, ids=lambda p: p.name)
def test_shipped_zips_unpack_as_espnet_unpacks_them(archive, tmp_path):
    from espnet2.main_funcs.pack_funcs import unpack as espnet_unpack

    ours, theirs = unpack(archive, tmp_path / "ours"), espnet_unpack(archive, tmp_path / "theirs", use_cache=False)
    assert {k: Path(v).relative_to(tmp_path / "ours") for k, v in ours.items()} == {
        k: Path(v).relative_to(tmp_path / "theirs") for k, v in theirs.items()
    }
    ours_files = sorted(p.relative_to(tmp_path / "ours") for p in (tmp_path / "ours").rglob("*"))
    assert ours_files == sorted(p.relative_to(tmp_path / "theirs") for p in (tmp_path / "theirs").rglob("*"))
    for key, path in ours.items():
        mine, espnet = Path(path).read_text(errors="replace"), Path(theirs[key]).read_text(errors="replace")
        assert mine == espnet.replace(str(tmp_path / "theirs"), str(tmp_path / "ours")), key  # yaml paths rewritten


def test_tar_gz_of_the_same_model_unpacks_alike(tmp_path):
    """As `tar -C <unpacked zip> -czf model.tar.gz .` writes it: names under "./"."""
    with zipfile.ZipFile(SHIPPED[0]) as zf:
        members = [tar_member(f"./{name}", zf.read(name)) for name in zf.namelist()]
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for info, data in [tar_member("./", kind=tarfile.DIRTYPE), *members]:
            tf.addfile(info, io.BytesIO(data))
    from_tar, from_zip = unpack(archive, tmp_path / "tar"), unpack(SHIPPED[0], tmp_path / "zip")
    for key, path in from_zip.items():
        assert Path(from_tar[key]).read_text(errors="replace") == Path(path).read_text(errors="replace").replace(
            str(tmp_path / "zip"), str(tmp_path / "tar")
        )


def test_hub_folder_is_read_from_its_root_and_only_its_config_is_written(tmp_path):
    hub, work = tmp_path / "hub", tmp_path / "work"
    zipfile.ZipFile(PRETRAINED / "emo_qieemo_multicorpus4.zip").extractall(hub)
    before = {p: p.stat().st_mtime_ns for p in hub.rglob("*")}
    files = model_files(hub, work)
    assert Path(files["model_file"]).parent.parent.parent == hub  # the weights are read where they are
    config = yaml.safe_load(Path(files["train_config"]).read_text())
    assert Path(files["train_config"]).is_relative_to(work)
    assert config["normalize_conf"]["stats_file"] == str(hub / "exp" / "emo" / "asr_feats_stats.npz")
    assert {p: p.stat().st_mtime_ns for p in hub.rglob("*")} == before
    assert check_model(hub)["files"] == {
        "model_file": "exp/emo/valid.ua.ave_3best.pth",
        "calibration": "exp/emo/calibration.yaml",  # read in place too
    }
    assert Path(files["calibration"]) == hub / "exp" / "emo" / "calibration.yaml"


def _hostile_zip(members):
    return lambda path: write_zip(path / "evil.zip", members)


def _hostile_tar(*members):
    return lambda path: write_tar(path / "evil.tar.gz", members)


HOSTILE = {
    "zip slip via meta.yaml yaml_files": (
        _hostile_zip({**model_members(), "meta.yaml": meta_yaml(config=ESCAPE), ESCAPE: "a: 1\n"}),
        f"member '{ESCAPE}' contains '..'",
    ),
    "meta.yaml entry leaving the archive": (
        _hostile_zip({**model_members(), "meta.yaml": meta_yaml(config=ESCAPE)}),
        f"meta.yaml yaml_files.train_config '{ESCAPE}' contains '..'",
    ),
    "meta.yaml entry that is absolute": (
        _hostile_zip({**model_members(), "meta.yaml": meta_yaml(weights="/etc/passwd")}),
        "meta.yaml files.model_file '/etc/passwd' is an absolute path",
    ),
    "meta.yaml entry naming no member": (
        _hostile_zip({**model_members(), "meta.yaml": meta_yaml(weights="exp/other.pth")}),
        "files.model_file names 'exp/other.pth', which is not a file in it",
    ),
    "zip slip via a plain member": (_hostile_zip(model_members(**{"../../escaped.bin": b"x"})), "contains '..'"),
    "zip slip with Windows separators": (_hostile_zip(model_members(**{"..\\..\\escaped.bin": b"x"})), "contains '..'"),
    "zip member that is absolute": (_hostile_zip(model_members(**{"/tmp/escaped.bin": b"x"})), "is an absolute path"),
    "zip member named twice": (_hostile_zip({**model_members(), "exp//emo/model.pth": b"y"}), "appears twice"),
    "zip symlink": (lambda path: zip_symlink(path / "evil.zip", "exp/link", "../.."), "is a symbolic link"),
    "tar with ../": (_hostile_tar(tar_member("../../escaped.bin", b"x")), "member '../../escaped.bin' contains '..'"),
    "tar absolute member": (_hostile_tar(tar_member("/tmp/escaped.bin", b"x")), "is an absolute path"),
    "tar symlink": (
        _hostile_tar(tar_member("exp/link", kind=tarfile.SYMTYPE, link="../.."), tar_member("exp/link/x", b"x")),
        "member 'exp/link' is a symbolic link",
    ),
    "tar hard link": (
        _hostile_tar(tar_member("exp/hard", kind=tarfile.LNKTYPE, link="../../escaped.bin")),
        "member 'exp/hard' is a hard link",
    ),
    "tar FIFO": (_hostile_tar(tar_member("exp/fifo", kind=tarfile.FIFOTYPE)), "is a FIFO"),
    "tar device": (_hostile_tar(tar_member("exp/tty", kind=tarfile.CHRTYPE)), "is a character device"),
}


@pytest.mark.parametrize("make, message", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_archive_is_refused_before_anything_is_written(make, message, tmp_path, target):
    archive = make(tmp_path)
    before = paths_outside(tmp_path, target)
    with pytest.raises(UnsafeArchiveError, match="unsafe archive, refused before writing anything") as err:
        unpack(archive, target)
    assert message in str(err.value) and str(archive) in str(err.value)
    assert not target.exists()
    assert paths_outside(tmp_path, target) == before
    with pytest.raises(UnsafeArchiveError):
        check_model(archive)


def test_hub_folder_whose_meta_yaml_leaves_it_is_refused(tmp_path, target):
    hub = tmp_path / "outer" / "hub"
    hub.mkdir(parents=True)
    (hub / "meta.yaml").write_text(meta_yaml(config=ESCAPE))
    (tmp_path / "escaped.yaml").write_text("a: 1\n")  # exists, outside the folder
    before = paths_outside(tmp_path, target)
    with pytest.raises(UnsafeArchiveError, match=f"yaml_files.train_config '{ESCAPE}' contains '..'"):
        model_files(hub, target)
    assert paths_outside(tmp_path, target) == before and not target.exists()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_member_claiming_more_than_the_cap_is_refused_unwritten(kind, tmp_path, target, monkeypatch):
    monkeypatch.setattr(safe_unpack, "MAX_TOTAL_BYTES", 4000)
    big = {WEIGHTS: bytes(5000)}  # compresses to a few dozen bytes
    if kind == "zip":
        archive = write_zip(tmp_path / "bomb.zip", model_members(**big))
    else:
        archive = write_tar(tmp_path / "bomb.tar.gz", [tar_member("exp/emo/big.bin", bytes(5000))])
    with pytest.raises(UnsafeArchiveError, match="takes the unpacked size past 4000 bytes"):
        unpack(archive, target)
    assert not target.exists()


def test_member_expanding_beyond_what_it_claims_is_cut_at_its_claim(tmp_path, target, monkeypatch):
    monkeypatch.setattr(safe_unpack, "MAX_TOTAL_BYTES", 4000)
    archive = understate_size(write_zip(tmp_path / "bomb.zip", model_members(**{WEIGHTS: bytes(100_000)})), WEIGHTS, 10)
    with pytest.raises(ValueError, match="damaged or truncated archive"):
        unpack(archive, target)
    assert sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) <= 4000


def test_bytes_beyond_the_declared_size_are_counted_and_refused():
    written = io.BytesIO()
    with pytest.raises(UnsafeArchiveError, match="member 'm' expands beyond its declared 100 bytes"):
        safe_unpack._copy_capped(io.BytesIO(bytes(5000)), written, 100, "member 'm'")
    assert len(written.getvalue()) <= 100


def test_too_many_members_are_refused(tmp_path, target, monkeypatch):
    monkeypatch.setattr(safe_unpack, "MAX_MEMBERS", 3)
    archive = write_zip(tmp_path / "many.zip", model_members(a=b"", b=b""))
    with pytest.raises(UnsafeArchiveError, match="more than 3 members"):
        unpack(archive, target)


def test_link_already_in_the_target_is_not_followed(tmp_path, target):
    (tmp_path / "elsewhere").mkdir()
    target.mkdir(parents=True)
    (target / "exp").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeArchiveError, match="would be written outside"):
        unpack(write_zip(tmp_path / "m.zip", model_members()), target)
    assert not any((tmp_path / "elsewhere").iterdir())


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_truncated_archive_is_refused(suffix, tmp_path, target):
    whole = write_zip(tmp_path / "m.zip", model_members()) if suffix == ".zip" else write_tar(tmp_path / "m.tgz", [])
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated"):
        unpack(cut, target)
    assert not any(target.rglob("*.yaml"))


def test_archive_without_meta_yaml_is_not_a_model(tmp_path, target):
    archive = write_zip(tmp_path / "m.zip", {CONFIG: "a: 1\n"})
    with pytest.raises(ValueError, match="no meta.yaml at its root"):
        unpack(archive, target)


def test_command_line_check_exits_with_the_reason(tmp_path):
    evil = write_zip(tmp_path / "evil.zip", model_members(**{"../../escaped.bin": b"x"}))
    with pytest.raises(SystemExit, match="unsafe archive.*contains '..'"):
        safe_unpack.main([str(evil)])
    safe_unpack.main([str(SHIPPED[0])])
    safe_unpack.main([str(tmp_path)])  # an exp dir: nothing to unpack
