import json
import re

import numpy as np
import pytest
from pyscripts import emo_score
from pyscripts.kaldi_dir import DataDirError, write_lines, write_table
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

LABELS = ["neu", "hap", "ang", "sad"]


def make_fold(root, name, ref, hyp, errors=()):
    """Data dir (train/valid/test emotion) and an inference dir as emo_inference writes it."""
    data, out = root / "data" / name, root / "exp" / name
    write_table(data / "test" / "emotion", ref)
    write_table(data / "train" / "emotion", {f"tr{i}": "neu" for i in range(7)})
    write_table(data / "valid" / "emotion", {"va0": "sad"})
    write_table(out / "emotion", hyp)
    write_lines(out / "labels", LABELS)
    write_table(out / "errors", {u: "unreadable: broken file" for u in errors})
    return [name, str(data), str(out)]


def sklearn_metrics(ref, hyp):
    y_true = [ref[u] for u in ref]
    y_pred = [hyp.get(u, "<none>") for u in ref]
    return {
        "WA": 100 * accuracy_score(y_true, y_pred),
        "UA": 100 * balanced_accuracy_score(y_true, y_pred),
        "WF1": 100 * f1_score(y_true, y_pred, labels=LABELS, average="weighted", zero_division=0),
    }


@pytest.fixture
def two_folds(tmp_path):
    rng = np.random.default_rng(0)
    folds = []
    for name in ("fold1", "fold2"):
        ref = {f"{name}_u{i:02d}": LABELS[i % 4] for i in range(40)}
        hyp = {u: (lab if rng.random() < 0.6 else LABELS[rng.integers(4)]) for u, lab in ref.items()}
        del hyp[f"{name}_u03"]  # failed in inference: no prediction
        folds.append((ref, hyp, make_fold(tmp_path, name, ref, hyp, errors=[f"{name}_u03"])))
    return folds


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_metrics_match_sklearn_and_missing_counts_as_wrong(two_folds, tmp_path):
    result = emo_score.score([f[2] for f in two_folds], [], tmp_path / "scores", "t", "cmd")
    for ref, hyp, (name, _, _) in two_folds:
        got = result["folds"][name]
        for metric, value in sklearn_metrics(ref, hyp).items():
            assert got[metric] == pytest.approx(value, abs=1e-9), (name, metric)
        assert got["counts"] == {"train": 7, "valid": 1, "test": 40} and got["errors"] == 1
        assert np.array(got["confusion"])[:, -1].sum() == 1
    for metric in emo_score.METRICS:
        values = [result["folds"][n][metric] for n in ("fold1", "fold2")]
        assert result["summary"][metric] == pytest.approx({"mean": np.mean(values), "std": np.std(values)})
    assert json.loads((tmp_path / "scores" / "metrics.json").read_text()) == json.loads(json.dumps(result))


def test_results_md_rows_and_confusion(two_folds, tmp_path):
    conf = tmp_path / "train.yaml"
    conf.write_text("seed: 7\nmax_epoch: 3\n")
    emo_score.main(
        [
            "--fold",
            *two_folds[0][2],
            "--fold",
            *two_folds[1][2],
            "--config",
            str(conf),
            "--out_dir",
            str(tmp_path / "scores"),
        ]
    )
    md = (tmp_path / "scores" / "RESULTS.md").read_text()
    metrics = json.loads((tmp_path / "scores" / "metrics.json").read_text())
    row = re.search(r"^\| fold2 \| 7 \| 1 \| 40 \| 1 \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", md, re.M)
    assert [float(x) for x in row.groups()] == [round(metrics["folds"]["fold2"][m], 2) for m in emo_score.METRICS]
    assert "| neu | " in md and "<none>" in md and "seed 7" in md and "max_epoch: 3" in md
    total = sum(np.array(metrics["folds"][n]["confusion"]) for n in ("fold1", "fold2"))
    assert (tmp_path / "scores" / "confusion.txt").read_text().splitlines()[2] == "| neu | " + " | ".join(
        str(x) for x in total[0]
    ) + " |"
    assert (tmp_path / "scores" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_reference_label_is_named_and_keeps_previous_scores(two_folds, tmp_path):
    out = tmp_path / "scores"
    emo_score.score([two_folds[0][2]], [], out, "t", "cmd")
    before = (out / "RESULTS.md").read_text()
    bad = make_fold(tmp_path, "fold3", {"x1": "fru"}, {"x1": "neu"})
    with pytest.raises(DataDirError, match=r"fold3/test/emotion: x1 has label 'fru', not in .*labels"):
        emo_score.score([bad], [], out, "t", "cmd")
    assert (out / "RESULTS.md").read_text() == before


def test_single_class_fold_ua_averages_present_classes(tmp_path):
    ref = {"a": "ang", "b": "ang", "c": "sad"}
    hyp = {"a": "ang", "b": "sad", "c": "sad"}
    m = emo_score.score([make_fold(tmp_path, "f", ref, hyp)], [], tmp_path / "s", "t", "c")["folds"]["f"]
    assert m["UA"] == pytest.approx(75.0) and m["WA"] == pytest.approx(200 / 3)


def test_collapse_is_warned_with_the_class_name(tmp_path, caplog):
    ref = {f"u{i:02d}": LABELS[i % 4] for i in range(40)}
    never_neu = {u: ("hap" if lab == "neu" else lab) for u, lab in ref.items()}
    rare_sad = dict(ref)
    for u in [u for u, lab in ref.items() if lab == "sad"][1:]:
        rare_sad[u] = "ang"  # 1 sad prediction for 10 sad utterances
    folds = [make_fold(tmp_path, "fold1", ref, never_neu), make_fold(tmp_path, "fold2", ref, rare_sad)]
    with caplog.at_level("WARNING"):
        result = emo_score.score(folds, [], tmp_path / "scores", "t", "cmd")
    text = (tmp_path / "scores" / "RESULTS.md").read_text()
    for needle in (
        "fold1: class 'neu' is never predicted",
        "fold2: class 'sad' is almost never predicted",
        "fold1: per-class recall spreads widely: 'neu' 0.0 %",
    ):
        assert needle in text
        assert any(needle in w for w in result["warnings"])
        assert needle in caplog.text


def test_balanced_predictions_give_no_warning(tmp_path):
    ref = {f"u{i:02d}": LABELS[i % 4] for i in range(40)}
    result = emo_score.score([make_fold(tmp_path, "fold1", ref, dict(ref))], [], tmp_path / "s", "t", "cmd")
    assert result["warnings"] == []
    assert "WARNING" not in (tmp_path / "s" / "RESULTS.md").read_text()
