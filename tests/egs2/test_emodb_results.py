"""The demo's results table is recomputed from inference outputs and detects stale files."""

from pathlib import Path

import pytest
from emodb_local import demo_results
from pyscripts.kaldi_dir import write_lines, write_table

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
    demo_results.main(
        [
            "--fold_dir",
            str(root / "fold{fold}"),
            "--folds",
            "1",
            "2",
            "--system",
            "toy",
            str(root / "sys" / "fold{fold}"),
            "--images_dir",
            str(root / "img"),
            "--out",
            str(root / "RESULTS.md"),
            "--readme",
            str(root / "README.md"),
            *extra,
        ]
    )


def run_two_systems(root: Path) -> None:
    """'toy' and 'half' (fold 1 like toy, fold 2 all wrong)."""
    other = root / "other"
    for k in (1, 2):
        write_lines(other / f"fold{k}" / "labels", LABELS)
        write_table(
            other / f"fold{k}" / "emotion",
            {f"{k}{u}": "neu" if k == 2 and u != "a" else label for u, label in REFS.items()},
        )
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


def test_seeds_are_runs_paired_by_seed_and_fold(outputs):
    """Two seeds of 'toy' against two of 'half': the gap is taken run by run (4 runs)."""
    for seed in (0, 1):
        for k in (1, 2):
            for system, wrong in (("toy", ()), ("half", ("b", "c") if seed == 1 else ())):
                out = outputs / f"s{seed}" / system / f"fold{k}"
                write_lines(out / "labels", LABELS)
                write_table(out / "emotion", {f"{k}{u}": ("sad" if u in wrong else label) for u, label in REFS.items()})
    demo_results.main(
        [
            "--fold_dir",
            str(outputs / "fold{fold}"),
            "--folds",
            "1",
            "2",
            "--seeds",
            "0",
            "1",
            "--system",
            "toy",
            str(outputs / "s{seed}" / "toy" / "fold{fold}"),
            "--system",
            "half",
            str(outputs / "s{seed}" / "half" / "fold{fold}"),
            "--images_dir",
            str(outputs / "img"),
            "--out",
            str(outputs / "RESULTS.md"),
        ]
    )
    results = (outputs / "RESULTS.md").read_text()
    # half: seed 0 perfect on both folds, seed 1 UA 50 on both -> 75 +- 25 over 4 runs; gap +25 +- 25, 2 of 4 won
    assert "| half | 75.0 +- 25.0 | 75.0 +- 25.0 |" in results
    assert "| +25.0 +- 25.0 (2/4) |" in results
    assert "over 4 runs (2 seed(s) x 2 folds)" in results


def test_selection_reads_validation_ua_from_train_logs_only(outputs):
    logs = {"residual": (0.50, 0.70), "literal": (0.40, 0.45)}
    for name, (first, second) in logs.items():
        for k in (1, 2):
            exp = outputs / "sel" / name / f"fold{k}"
            exp.mkdir(parents=True)
            (exp / "train.log").write_text(
                f"INFO: 1epoch results: [train] loss=1.0, ua=0.9, [valid] loss=1.2, acc=0.5, ua={first}, time=1\n"
                f"INFO: 2epoch results: [train] loss=0.8, ua=0.95, [valid] loss=1.1, acc=0.6, ua={second}, time=1\n"
            )
    run(
        outputs,
        "--selection",
        "residual",
        str(outputs / "sel" / "residual" / "fold{fold}"),
        "--selection",
        "literal",
        str(outputs / "sel" / "literal" / "fold{fold}"),
    )
    results = (outputs / "RESULTS.md").read_text()
    assert "| residual | 70.0 +- 0.0 | **yes** |" in results
    assert "| literal | 45.0 +- 0.0 |  |" in results
    (outputs / "sel" / "literal" / "fold2" / "train.log").write_text("no epoch finished\n")
    with pytest.raises(SystemExit, match="fold2/train.log: no '\\[valid\\] ... ua='"):
        run(outputs, "--selection", "literal", str(outputs / "sel" / "literal" / "fold{fold}"))


def test_validation_ua_comes_from_the_trainers_record_across_a_resume(tmp_path):
    """A resumed run starts a new train.log; checkpoint.pth still holds every epoch."""
    import torch

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "train.log").write_text("INFO: 3epoch results: [valid] loss=1.0, acc=0.5, ua=0.40, time=1\n")
    stats = {1: {"valid": {"ua": 0.55}}, 2: {"valid": {"ua": 0.62}}, 3: {"valid": {"ua": 0.40}}}
    torch.save({"reporter": {"stats": stats}}, exp / "checkpoint.pth")
    assert demo_results.best_valid_ua(exp) == pytest.approx(62.0)


def test_epoch_counts_are_rated_on_validation_curves(outputs):
    """E epochs = the first E of a longer run; the table averages each run's 3 best epochs up to E."""
    import torch

    curves = {1: [0.3, 0.5, 0.6, 0.7, 0.4, 0.45], 2: [0.2, 0.4, 0.5, 0.6, 0.65, 0.3]}
    for k, curve in curves.items():
        exp = outputs / "full" / f"fold{k}"
        exp.mkdir(parents=True)
        stats = {e + 1: {"valid": {"ua": ua}} for e, ua in enumerate(curve)}
        torch.save({"reporter": {"stats": stats}}, exp / "checkpoint.pth")
    run(outputs, "--epochs", str(outputs / "full" / "fold{fold}"), "--epoch_candidates", "2", "4", "6", "8")
    results = (outputs / "RESULTS.md").read_text()
    # E=4: fold1 mean(0.5, 0.6, 0.7) = 60, fold2 mean(0.4, 0.5, 0.6) = 50; E=6: 60 and 58.3
    assert "| 4 | 55.0 +- 5.0 |  |" in results
    assert "| 6 | 59.2 +- 0.8 | **yes** |" in results
    assert "| 8 |" not in results and "the runs trained 6 epochs" in results
