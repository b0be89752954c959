"""The leave-one-corpus-out table from outputs in the formats the recipe writes: UA recomputed
from predictions, the recipe with the best mean held-out UA chosen, the README block replaced."""

from pathlib import Path

import pytest
import yaml
from emodb_local import loco_results

LABELS = ["neu", "hap", "ang", "sad"]
CORPORA = ("emodb", "ravdess")


def write(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def outputs(root: Path, recall: dict) -> list:
    """Fold dirs (8 test utterances, 2 per class) and, per system, predictions that get
    ``recall[system][fold]`` of each class's 2 right (0, 1 or 2), plus calibration files."""
    write(root / "heldout", [f"fold{k} {c}" for k, c in enumerate(CORPORA, 1)])
    args = ["--heldout", str(root / "heldout"), "--fold_dir", str(root / "data" / "fold{fold}")]
    for k, corpus in enumerate(CORPORA, 1):
        refs = {f"{corpus}_{label}{i}": label for label in LABELS for i in range(2)}
        write(root / "data" / f"fold{k}" / "test" / "emotion", [f"{u} {label}" for u, label in refs.items()])
        for system, per_fold in recall.items():
            right = per_fold[k - 1]
            wrong = {label: LABELS[(LABELS.index(label) + 1) % 4] for label in LABELS}
            hyp = [f"{u} {label if int(u[-1]) < right else wrong[label]}" for u, label in refs.items()]
            out = root / system / f"fold{k}"
            write(out / loco_results.INFERENCE / "emotion", hyp)
            write(out / loco_results.INFERENCE / "labels", LABELS)
            if system != "svm":
                scores = {"ece_before": 0.3, "ece_after": 0.1 * k}
                write(out / "calibration.yaml", [yaml.safe_dump({"temperature": 1.5, "evaluated": {"x": scores}})])
    for system in recall:
        if system != "svm":
            args += ["--system", system, str(root / system / "fold{fold}")]
    return args + ["--svm", str(root / "svm" / "fold{fold}" / loco_results.INFERENCE)]


def test_table_recomputes_ua_and_chooses_the_best_mean(tmp_path, capsys):
    args = outputs(tmp_path, {"aug": (2, 1), "noaug": (1, 1), "svm": (1, 0)})
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- loco-results:begin -->\nstale table\n<!-- loco-results:end -->\n\nafter\n")
    common = [*args, "--choice", str(tmp_path / "choice"), "--readme", str(readme)]
    loco_results.main([*common, "--out", str(tmp_path / "RESULTS_loco.md")])
    table = (tmp_path / "RESULTS_loco.md").read_text()
    # aug: emodb 100 %, ravdess 50 %; noaug 50 / 50; SVM 50 / 0 (UA = mean recall)
    assert "| emodb | 100.0 | 50.0 | 50.0 | +50.0 | +0.0 (missed) |" in table
    assert "| ravdess | 50.0 | 50.0 | 0.0 | +50.0 | +50.0 |" in table
    assert "| mean | 75.0 | 50.0 | 25.0 | +50.0 | +25.0 |" in table
    assert "| ravdess | 1.50 | 0.300 | 0.200 | 1.50 | 0.300 | 0.200 |" in table
    assert (tmp_path / "choice").read_text() == "aug\n" and "(**aug**)" in table
    text = readme.read_text()
    assert "stale table" not in text and text.count("<!-- loco-results:begin -->") == 1 and text.endswith("after\n")
    assert "| mean | 75.0 |" in text and "# Leave-one-corpus-out" not in text
    loco_results.main([*common, "--out", str(tmp_path / "again.md")])  # replaced again, not appended
    assert readme.read_text() == text


def test_a_tie_keeps_the_first_recipe_and_missing_outputs_are_named(tmp_path):
    args = outputs(tmp_path, {"noaug": (1, 1), "aug": (1, 1), "svm": (1, 1)})
    loco_results.main([*args, "--choice", str(tmp_path / "choice"), "--out", str(tmp_path / "out.md")])
    assert (tmp_path / "choice").read_text() == "noaug\n"
    (tmp_path / "aug" / "fold2" / "calibration.yaml").unlink()
    with pytest.raises(SystemExit, match=r"aug/fold2/calibration.yaml: expected emo_calibrate's file"):
        loco_results.main([*args, "--out", str(tmp_path / "out.md")])
    (tmp_path / "noaug" / "fold1" / loco_results.INFERENCE / "labels").unlink()
    with pytest.raises(SystemExit, match=r"noaug/fold1/inference_valid.ua.ave/test: no inference output"):
        loco_results.main([*args, "--out", str(tmp_path / "out.md")])
