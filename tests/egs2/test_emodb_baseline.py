"""eGeMAPS + linear SVM baseline on a tiny two-class EmoDB fold (real audio, real openSMILE)."""

import numpy as np
from emodb_helpers import write_part
from emodb_local import egemaps_svm
from pyscripts.kaldi_dir import read_table


def test_two_class_fold_predicts_held_out_speakers(tmp_path, data_root):
    wav_dir = data_root / "emodb" / "wav"
    fold = tmp_path / "fold1"
    write_part(wav_dir, fold / "train", ("10", "11", "09", "13"), 3)
    write_part(wav_dir, fold / "valid", ("12", "14"), 1)
    write_part(wav_dir, fold / "test", ("03", "08"), 2)
    labels_file = tmp_path / "labels"
    labels_file.write_text("ang\nsad\n")
    out = tmp_path / "svm" / "fold1"
    egemaps_svm.main(["--labels", str(labels_file), "--fold", str(fold), str(out)])

    assert (out / "labels").read_text().split() == ["ang", "sad"]
    ref = read_table(fold / "test" / "emotion")
    hyp = read_table(out / "emotion")
    assert set(hyp) == set(ref) and (out / "errors").read_text() == ""
    scores = {u: np.array(v.split(), dtype=float) for u, v in read_table(out / "score").items()}
    for utt, probs in scores.items():
        assert abs(probs.sum() - 1) < 1e-4
        assert hyp[utt] == ["ang", "sad"][int(probs.argmax())]
    # Loud anger vs quiet sadness: eGeMAPS separates them on unseen speakers.
    assert np.mean([hyp[u] == ref[u] for u in ref]) >= 0.75


def test_unknown_label_is_named(tmp_path, data_root):
    fold = tmp_path / "fold1"
    for part, speakers in (("train", ("10",)), ("valid", ("12",)), ("test", ("03",))):
        write_part(data_root / "emodb" / "wav", fold / part, speakers, 1)
    labels_file = tmp_path / "labels"
    labels_file.write_text("neu\nsad\n")
    try:
        egemaps_svm.main(["--labels", str(labels_file), "--fold", str(fold), str(tmp_path / "out")])
    except SystemExit as err:
        assert "train/emotion" in str(err) and "'ang'" in str(err)
    else:
        raise AssertionError("a label outside the label list must stop the baseline")
    assert not (tmp_path / "out" / "emotion").exists()
