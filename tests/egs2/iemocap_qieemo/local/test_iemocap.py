import logging
import shutil

import pytest
from iemocap_local import iemocap
from pyscripts.folds import FoldError
from pyscripts.kaldi_dir import read_table


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_four_classes_session_speakers_and_folds(tiny_iemocap, tmp_path, caplog):
    root, raw = tiny_iemocap
    with caplog.at_level(logging.INFO):
        iemocap.prepare(root, tmp_path / "data", valid_ratio=0.2, seed=0)
    emotion = read_table(tmp_path / "data/iemocap/emotion")
    assert emotion == {u: ("hap" if r == "exc" else r) for u, r in raw.items() if r in iemocap.LABEL_MAP}
    assert (tmp_path / "data/iemocap/labels").read_text().split() == list(iemocap.LABELS)
    utt2spk = read_table(tmp_path / "data/iemocap/utt2spk")
    assert utt2spk["Ses03M_script01_1_F000"] == "Ses03F" and utt2spk["Ses03M_script01_1_M002"] == "Ses03M"
    assert read_table(tmp_path / "data/iemocap/text")["Ses01M_script01_1_F000"] == "line 0."
    for k in range(1, 6):
        test = read_table(tmp_path / f"data/fold{k}/test/utt2spk")
        assert set(test.values()) == {f"Ses0{k}F", f"Ses0{k}M"}
    # 25 kept utterances instead of 5531: a warning with the per-session table.
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "25 utterances, test folds 5/5/5/5/5" in warning and "Session5" in warning


def test_tree_without_a_session_names_what_is_missing(tiny_iemocap, tmp_path):
    root, _ = tiny_iemocap
    shutil.rmtree(root / "Session3")
    with pytest.raises(iemocap.CorpusError, match=r"expected <session>/dialog/EmoEvaluation/ .* missing for Session3$"):
        iemocap.prepare(root, tmp_path / "data", 0.2, 0)
    assert not (tmp_path / "data").exists()


def test_empty_fold_stops_and_keeps_previous_output(tiny_iemocap, session_writer, tmp_path):
    root, _ = tiny_iemocap
    out = tmp_path / "data"
    iemocap.prepare(root, out, 0.2, 0)
    before = snapshot(out)
    shutil.rmtree(root / "Session2")
    session_writer(root, 2, (("fru", "F"), ("xxx", "M")))  # nothing of the four classes
    with pytest.raises(FoldError, match=r"fold2/test: empty \(test group 'Session2'\)"):
        iemocap.prepare(root, out, 0.2, 0)
    assert snapshot(out) == before


def test_labelled_utterance_without_audio_is_an_error(tiny_iemocap, tmp_path):
    root, _ = tiny_iemocap
    missing = next((root / "Session4").rglob("*_F000.wav"))
    missing.unlink()
    with pytest.raises(iemocap.CorpusError, match="1 labelled utterance.*Ses04M_script01_1_F000.wav"):
        iemocap.prepare(root, tmp_path / "data", 0.2, 0)


def test_main_reports_errors_naming_the_corpus_path(tmp_path):
    with pytest.raises(SystemExit, match=r"^ERROR: IEMOCAP prep: IEMOCAP=.*nowhere: no such directory"):
        iemocap.main(["--iemocap", str(tmp_path / "nowhere"), "--out", str(tmp_path / "data")])
