"""The demo's results table is recomputed from inference outputs and detects stale files."""
from pathlib import Path

import pytest

from espnet_qieemo.bin import demo_results
from espnet_qieemo.prep.kaldi_dir import write_lines, write_table

LABELS = ["neu", "hap", "ang", "sad"]
REFS = {"a": "neu", "b": "hap", "c": "ang", "d": "sad"}


def write_fold(root: Path, k: int, hyps: dict) -> None:
    """Fold k: four test utterances (one per class) and a system's predictions for them."""
    refs = {f"{k}{u}": label for u, label in REFS.items()}
    write_table(root / f"fold{k}" / "test" / "emotion", refs)
    out = root / "sys" / f"fold{k}"
    write_lines(out / "labels", LABELS)
    write_table(out / "emotion", {f"{k}{u}": label for u, label in hyps.items()})
    write_lines(out / "errors", [])


@pytest.fixture
def outputs(tmp_path):
    write_fold(tmp_path, 1, dict(REFS))  # all right: 100 %
    write_fold(tmp_path, 2, {"a": "neu", "b": "neu", "c": "ang"})  # b wrong, d has no prediction: 50 %
    (tmp_path / "README.md").write_text("# Title\n\nintro\n\n## Later section\n")
    return tmp_path


def run(root: Path, *extra: str) -> None:
    demo_results.main(["--fold_dir", str(root / "fold{fold}"), "--folds", "1", "2",
                       "--system", "toy", str(root / "sys" / "fold{fold}"), "--images_dir", str(root / "img"),
                       "--out", str(root / "RESULTS.md"), "--readme", str(root / "README.md"), *extra])


def run_two_systems(root: Path) -> None:
    """'toy' and 'half' (fold 1 like toy, fold 2 all wrong)."""
    other = root / "other"
    for k in (1, 2):
        write_lines(other / f"fold{k}" / "labels", LABELS)
        write_table(other / f"fold{k}" / "emotion", {f"{k}{u}": "neu" if k == 2 and u != "a" else label
                                                       for u, label in REFS.items()})
    run(root, "--system", "half", str(other / "fold{fold}"))


def test_paired_gap_column(outputs):
    run_two_systems(outputs)
    results = (outputs / "RESULTS.md").read_text()
    # fold 1: 100 vs 100; fold 2: toy 50 vs half 25 (UA) -> gains 0 and 25: +12.5 +- 12.5, 1 of 2 folds.
    assert "| half | 62.5 +- 37.5 | 62.5 +- 37.5 |" in results
    assert "| +12.5 +- 12.5 (1/2) |" in results


def test_table_from_outputs_and_check(outputs):
    run(outputs)
    results = (outputs / "RESULTS.md").read_text()
    # WA 100 and 50 -> 75 +- 25; UA the same (one utterance per class); WA per fold listed.
    assert "| toy | 75.0 +- 25.0 | 75.0 +- 25.0 |" in results
    assert "100.0 / 50.0" in results
    assert "![confusion](img/confusion.png)" in results and (outputs / "img" / "confusion.png").is_file()
    readme = (outputs / "README.md").read_text()
    assert readme.startswith("# Title\n\nintro\n") and "## Later section" in readme
    assert "| toy | 75.0 +- 25.0" in readme.split(demo_results.BEGIN)[1].split(demo_results.END)[0]
    run(outputs, "--check")
    run(outputs)  # rewriting replaces the README block instead of adding a second one
    assert (outputs / "README.md").read_text().count(demo_results.BEGIN) == 1

    (outputs / "RESULTS.md").write_text(results.replace("75.0 +- 25.0", "80.0 +- 20.0"))
    with pytest.raises(SystemExit, match="RESULTS.md differ"):
        run(outputs, "--check")


def test_missing_system_output_is_named(outputs):
    (outputs / "sys" / "fold2" / "labels").unlink()
    with pytest.raises(SystemExit, match="fold2: no inference output"):
        run(outputs)
    assert not (outputs / "RESULTS.md").exists()
