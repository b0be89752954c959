"""Outputs appear whole or not at all."""

import pytest

from espnet_qieemo.utils.fileio import atomic_write


def test_atomic_write_keeps_old_content_when_writing_fails(tmp_path):
    target = tmp_path / "emotion"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_write(target) as f:
        f.write("new\n")
    assert target.read_text() == "new\n"
