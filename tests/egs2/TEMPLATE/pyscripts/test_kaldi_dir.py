"""Data-dir helpers shared by the recipe tools: staged swaps, the label list, light imports."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyscripts.kaldi_dir import DataDirError, read_labels, staged_dir, staged_dirs, write_lines

REPO = Path(__file__).resolve().parents[4]


def test_staged_dirs_swap_in_together_on_success(tmp_path):
    write_lines(tmp_path / "a" / "old", ["previous a"])
    with staged_dirs(tmp_path, ["a", "b"]) as staging:
        assert sorted(p.name for p in staging.iterdir()) == ["a", "b"]
        write_lines(staging / "a" / "new", ["new a"])
        write_lines(staging / "b" / "new", ["new b"])
        assert not (tmp_path / "b").exists()  # nothing visible before the block succeeds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # staging dir gone
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["new"]
    assert (tmp_path / "b" / "new").read_text() == "new b\n"


def test_staged_dirs_keep_previous_dirs_on_failure(tmp_path):
    write_lines(tmp_path / "a" / "old", ["previous a"])
    with pytest.raises(DataDirError, match="boom"):
        with staged_dirs(tmp_path, ["a", "b"]) as staging:
            write_lines(staging / "a" / "new", ["new a"])
            raise DataDirError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["old"]


def test_staged_dir_replaces_one_dir_and_clears_a_killed_runs_leftovers(tmp_path):
    final = tmp_path / "scores"
    leftover = tmp_path / ".scores.staging" / "scores" / "half_written"
    write_lines(leftover, ["from a killed run"])
    with staged_dir(final) as staging:
        assert list(staging.iterdir()) == []
        write_lines(staging / "RESULTS.md", ["# ok"])
    assert [p.name for p in tmp_path.iterdir()] == ["scores"]
    assert [p.name for p in final.iterdir()] == ["RESULTS.md"]


def test_read_labels_is_the_training_reader_with_data_dir_errors(tmp_path):
    labels = tmp_path / "labels"
    write_lines(labels, ["neu", "", "hap", "ang"])
    assert read_labels(labels) == ["neu", "hap", "ang"]
    with pytest.raises(DataDirError, match="labels: not found; expected the class order"):
        read_labels(tmp_path / "nowhere" / "labels")
    write_lines(labels, ["neu", "hap", "neu"])
    with pytest.raises(DataDirError, match=r"duplicated labels \['neu'\]"):
        read_labels(labels)
    write_lines(labels, ["neu"])
    with pytest.raises(DataDirError, match="need at least 2 emotion labels"):
        read_labels(labels)


@pytest.mark.parametrize(
    "recipe, modules",
    [
        (
            "emodb_qieemo",
            "pyscripts.kaldi_dir pyscripts.folds pyscripts.bpe pyscripts.asr_wer pyscripts.emo_score "
            "pyscripts.speechocean762 local.emodb local.digits_an4 local.demo_results",
        ),
        ("iemocap_qieemo", "pyscripts.folds pyscripts.librispeech local.iemocap"),
    ],
)
def test_recipe_tools_import_neither_torch_nor_espnet(recipe, modules):
    """Run from the recipe dir as the stages do (``python -m pyscripts.x`` / ``local.x``)."""
    code = (
        f"import importlib, sys\nfor m in {modules.split()!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in ('torch', 'torchaudio', 'espnet2') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO / "egs2" / recipe / "emo1",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[-1] == "[]"
