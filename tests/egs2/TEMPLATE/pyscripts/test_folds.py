import pytest
from pyscripts import folds
from pyscripts.kaldi_dir import read_table, subset_data_dir, write_data_dir, write_table

SPEAKERS = ("a1", "a2", "b1", "b2", "c1", "c2")  # group = first letter


@pytest.fixture
def corpus(tmp_path):
    """Six speakers in three groups, ten utterances each, two classes."""
    utts = {f"{s}_{i:02d}": s for s in SPEAKERS for i in range(10)}
    tables = {
        "wav.scp": {u: f"/audio/{u}.wav" for u in utts},
        "utt2spk": utts,
        "emotion": {u: ("ang" if int(u[-1]) % 2 else "sad") for u in utts},
    }
    write_data_dir(tmp_path / "corpus", tables)
    return tmp_path / "corpus", {u: s[0] for u, s in utts.items()}


def test_test_group_held_out_and_valid_from_training_groups(corpus, tmp_path):
    corpus_dir, utt2group = corpus
    fold_dirs = folds.build_folds(corpus_dir, utt2group, ["a", "b", "c"], tmp_path / "out", valid_ratio=0.2, seed=3)
    assert [f.name for f in fold_dirs] == ["fold1", "fold2", "fold3"]
    for fold, group in zip(fold_dirs, "abc"):
        spk = {p: set(read_table(fold / p / "utt2spk").values()) for p in folds.PARTS}
        assert spk["test"] == {f"{group}1", f"{group}2"}
        assert not any(s.startswith(group) for s in spk["train"] | spk["valid"])
        valid = read_table(fold / "valid" / "emotion")
        assert sorted(valid.values()).count("ang") == sorted(valid.values()).count("sad") == 4  # 20% per class
        assert folds.check_fold(fold) == {"train": 32, "valid": 8, "test": 20}


def test_leaked_test_speaker_is_rejected_with_its_name(corpus, tmp_path):
    corpus_dir, utt2group = corpus
    fold = folds.build_folds(corpus_dir, utt2group, ["a", "b", "c"], tmp_path / "out")[0]
    train_spk = read_table(fold / "train" / "utt2spk")
    train_spk[next(iter(train_spk))] = "a2"  # a training utterance now belongs to a test speaker
    write_table(fold / "train" / "utt2spk", train_spk)
    with pytest.raises(folds.FoldError, match=r"test speaker\(s\) \['a2'\] also in train"):
        folds.check_fold(fold)
    with pytest.raises(SystemExit, match=r"^ERROR: fold integrity: .*fold1: test speaker\(s\) \['a2'\]"):
        folds.main(["check", str(fold)])


def test_utterance_in_two_parts_and_empty_part_are_rejected(corpus, tmp_path):
    corpus_dir, utt2group = corpus
    fold = folds.build_folds(corpus_dir, utt2group, ["a", "b", "c"], tmp_path / "out")[1]
    valid = read_table(fold / "valid" / "utt2spk")
    train_utt, train_spk = next(iter(read_table(fold / "train" / "utt2spk").items()))
    write_table(fold / "valid" / "utt2spk", {**valid, train_utt: train_spk})
    write_table(fold / "valid" / "emotion", {**read_table(fold / "valid" / "emotion"), train_utt: "ang"})
    with pytest.raises(folds.FoldError, match=f"utterances in both train and valid: \\['{train_utt}'\\]"):
        folds.check_fold(fold)
    write_table(fold / "test" / "utt2spk", {})
    with pytest.raises(folds.FoldError, match="test/utt2spk: empty"):
        folds.check_fold(fold)


def test_derive_drops_utterances_formatting_excluded(corpus, tmp_path):
    corpus_dir, utt2group = corpus
    src = folds.build_folds(corpus_dir, utt2group, ["a", "b", "c"], tmp_path / "data")[0]
    formatted = tmp_path / "dump" / "corpus"
    gone = "a1_03"
    keep = [u for u in read_table(corpus_dir / "wav.scp") if u != gone]
    subset_data_dir(corpus_dir, formatted, keep)
    counts = folds.derive_fold(formatted, src, tmp_path / "dump" / "fold1")
    assert counts == {"train": 36, "valid": 4, "test": 19}  # default valid_ratio 0.1
    assert gone not in read_table(tmp_path / "dump" / "fold1" / "test" / "wav.scp")
