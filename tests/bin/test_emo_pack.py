"""emo_pack takes the paths users give: relative, through the best-model symlink, with spaces."""

import zipfile
from pathlib import Path

import pytest
import torch
from hostile_models import model_members, write_zip

from espnet_qieemo.bin import emo_pack
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.utils.safe_unpack import UnsafeArchiveError


def test_relative_symlinked_paths_with_spaces(emo_model, tmp_path, monkeypatch):
    exp = tmp_path / "my exp" / "fold 1"
    exp.mkdir(parents=True)
    (exp / "config.yaml").symlink_to(emo_model.config)
    (exp / "valid.ua.best.pth").symlink_to(emo_model.model_file)
    monkeypatch.chdir(tmp_path)
    emo_pack.main(
        [
            "--train_config",
            "my exp/fold 1/config.yaml",
            "--model_file",
            "my exp/fold 1/valid.ua.best.pth",
            "--outpath",
            "packed model.zip",
        ]
    )
    packed = tmp_path / "packed model.zip"
    assert zipfile.is_zipfile(packed)
    s2e = Speech2Emotion.from_pretrained(packed)
    want = torch.load(emo_model.model_file, map_location="cpu")
    got = s2e.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in want.items() if k in got)


def test_missing_model_file_is_named(emo_model, tmp_path):
    with pytest.raises(SystemExit, match="emo_pack: no such file: .*nope.pth"):
        emo_pack.main(
            [
                "--train_config",
                str(emo_model.config),
                "--model_file",
                str(tmp_path / "nope.pth"),
                "--outpath",
                str(tmp_path / "m.zip"),
            ]
        )


def test_a_zip_that_loaders_would_refuse_is_never_put_in_place(tmp_path, monkeypatch):
    (tmp_path / "config.yaml").write_text("labels: [a, b]\n")
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.pth")

    def pack_with_a_climbing_member(files, yaml_files, outpath, option):
        write_zip(Path(outpath), model_members(**{"../escaped.bin": b"x"}))

    monkeypatch.setattr(emo_pack, "pack", pack_with_a_climbing_member)
    with pytest.raises(UnsafeArchiveError, match="member '../escaped.bin' contains '..'"):
        emo_pack.pack_emotion_model(tmp_path / "config.yaml", tmp_path / "model.pth", tmp_path / "out.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "model.pth"]
