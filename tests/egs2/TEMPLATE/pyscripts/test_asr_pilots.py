"""Pilot ranking on the train.log of real ESPnet ASR trainings (the session's mini AN4 models)."""

import shutil

import pytest
from pyscripts import asr_pilots
from pyscripts.kaldi_dir import DataDirError


@pytest.fixture(scope="module")
def pilots(asr_exp, tmp_path_factory):
    """Two pilot dirs, each holding the train.log of a real training (the recipe's layout)."""
    root = tmp_path_factory.mktemp("pilots")
    dirs = {}
    for name in ("efficient_conformer", "conformer"):
        exp = asr_exp(name, stock=name == "conformer")
        dirs[name] = root / name
        dirs[name].mkdir()
        shutil.copy(exp.dir.parent / "train.log", dirs[name] / "train.log")
    return dirs


def test_every_epoch_has_espnets_validation_cer(pilots):
    history = asr_pilots.valid_history(pilots["conformer"] / "train.log")
    assert sorted(history) == list(range(1, len(history) + 1)) and len(history) >= 2
    for values in history.values():
        assert 0.0 <= values["cer_ctc"] <= 1.5 and "acc" in values and "loss" in values


def test_winner_has_the_lowest_cer_at_the_last_common_epoch(pilots, tmp_path):
    # cut one log after its first epoch: the longer pilot must be judged at epoch 1 too
    log = pilots["conformer"] / "train.log"
    lines = log.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if "1epoch results:" in line)
    short = tmp_path / "short"
    short.mkdir()
    (short / "train.log").write_text("".join(lines[: first + 1]))
    epoch, rows = asr_pilots.rank([("long", pilots["efficient_conformer"]), ("short", short)], "cer_ctc")
    assert epoch == 1
    expected = {
        name: asr_pilots.valid_history(d / "train.log")[1]["cer_ctc"]
        for name, d in (("long", pilots["efficient_conformer"]), ("short", short))
    }
    assert [r[0] for r in rows] == sorted(expected, key=expected.get)
    table = asr_pilots.table(epoch, rows, "cer_ctc")
    assert table[0].startswith("Pilots ranked by validation cer_ctc at epoch 1")
    assert len(table) == 4 + len(rows)


def test_a_pilot_without_a_finished_epoch_is_named(tmp_path, pilots):
    (tmp_path / "train.log").write_text("INFO: started\n")
    with pytest.raises(DataDirError, match=r"train.log: no '<n>epoch results' line"):
        asr_pilots.rank([("a", pilots["conformer"]), ("b", tmp_path)], "cer_ctc")
    with pytest.raises(DataDirError, match=r"pilot a: no valid bleu at epoch"):
        asr_pilots.rank([("a", pilots["conformer"])], "bleu")
