"""EmoDB + RAVDESS + TESS prep on the real corpora: the declared tables, corpus-prefixed ids and
speaker-independent leave-one-corpus-out folds."""

import shutil
from collections import Counter
from pathlib import Path

import pytest
from emodb_local import emo_corpora
from pyscripts.folds import FoldError
from pyscripts.kaldi_dir import read_table

LABELS = ["neu", "hap", "ang", "sad"]


def roots(data_root: Path) -> dict:
    return {"emodb": data_root / "emodb" / "wav", "ravdess": data_root / "ravdess", "tess": data_root / "tess"}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, data_root) -> Path:
    out = tmp_path_factory.mktemp("loco")
    emo_corpora.prepare(roots(data_root), out, valid_ratio=0.2, seed=0)
    return out


def parts_of(fold: Path, table: str) -> dict:
    return {part: read_table(fold / part / table) for part in ("train", "valid", "test")}


def test_each_corpus_maps_to_the_four_classes_by_its_table(prepared, data_root):
    for corpus in emo_corpora.CORPORA:
        assert sorted(set(corpus.table.values())) == sorted(LABELS), corpus.name
    assert emo_corpora.RAVDESS_TABLE == {"01": "neu", "03": "hap", "05": "ang", "04": "sad"}  # 02 calm: dropped
    assert emo_corpora.TESS_TABLE == {"neutral": "neu", "happy": "hap", "angry": "ang", "sad": "sad"}
    emotion = read_table(prepared / "corpora" / "emotion")
    assert (prepared / "corpora" / "labels").read_text().split() == LABELS
    by_corpus = Counter(u.split("_", 1)[0] for u in emotion)
    # EmoDB's N/F/W/T files; RAVDESS: 24 actors x (4 neutral + 3 x 8); TESS: 2 speakers x 4 x 200 words
    emodb_kept = [p for p in (data_root / "emodb" / "wav").glob("*.wav") if p.stem[5] in "NFWT"]
    assert by_corpus == {"emodb": len(emodb_kept), "ravdess": 24 * 28, "tess": 1600}
    assert emotion["emodb_03_03a01Fa"] == "hap" and emotion["emodb_03_03a01Wa"] == "ang"
    assert emotion["ravdess_01_03-01-01-01-01-01-01"] == "neu" and emotion["ravdess_02_03-01-05-02-02-02-02"] == "ang"
    assert emotion["tess_OAF_OAF_back_angry"] == "ang" and emotion["tess_YAF_YAF_bar_neutral"] == "neu"
    assert not [u for u in emotion if u.startswith("ravdess_") and u.split("_")[2].split("-")[2] == "02"]  # calm
    assert not [u for u in emotion if u.startswith("tess_") and u.rsplit("_", 1)[1] in ("ps", "fear", "disgust")]
    utt2spk = read_table(prepared / "corpora" / "utt2spk")
    assert all(u.startswith(s + "_") for u, s in utt2spk.items())
    speakers = Counter(s.split("_", 1)[0] for s in set(utt2spk.values()))
    assert speakers == {"emodb": 10, "ravdess": 24, "tess": 2}
    scp = read_table(prepared / "corpora" / "wav.scp")
    assert Path(scp["ravdess_01_03-01-01-01-01-01-01"]) == (
        data_root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.ogg"
    )


def test_leave_one_corpus_out_folds_are_speaker_independent(prepared):
    heldout = dict(line.split() for line in (prepared / "corpora" / "heldout").read_text().splitlines())
    assert heldout == {"fold1": "emodb", "fold2": "ravdess", "fold3": "tess"}
    emotion = read_table(prepared / "corpora" / "emotion")
    for fold, corpus in heldout.items():
        emo_corpora.check_loco_fold(prepared / fold, corpus)
        spk = {part: set(table.values()) for part, table in parts_of(prepared / fold, "utt2spk").items()}
        others = set(emo_corpora.BY_NAME) - {corpus}
        # test = the whole held-out corpus; train and valid from every other corpus, disjoint speakers
        assert set(read_table(prepared / fold / "test" / "emotion")) == {u for u in emotion if u.startswith(corpus)}
        assert {s.split("_")[0] for s in spk["train"]} == others == {s.split("_")[0] for s in spk["valid"]}
        assert not spk["train"] & spk["valid"] and not (spk["train"] | spk["valid"]) & spk["test"]
        valid = read_table(prepared / fold / "valid" / "emotion")
        cells = Counter((u.split("_")[0], label) for u, label in valid.items())
        assert {label for _, label in cells} == set(LABELS)
        # balanced: no (corpus, class) cell above the largest cell of the smaller validation corpus
        totals = Counter(u.split("_")[0] for u in valid)
        smallest = min(totals, key=totals.get)
        cap = max(n for (c, _), n in cells.items() if c == smallest)
        assert max(cells.values()) == cap and max(totals.values()) <= 2 * min(totals.values())
        # a validation speaker's unused utterances go nowhere
        train = read_table(prepared / fold / "train" / "utt2spk")
        assert all(s not in spk["valid"] for s in train.values())
        assert_balanced(read_table(prepared / fold / "train" / "emotion"))


def assert_balanced(emotion: dict) -> None:
    """No (corpus, class) cell above the largest cell of the corpus with the fewest utterances."""
    cells = Counter((u.split("_")[0], label) for u, label in emotion.items())
    totals = Counter(u.split("_")[0] for u in emotion)
    smallest = min(totals, key=totals.get)
    assert max(cells.values()) == max(n for (c, _), n in cells.items() if c == smallest)


def test_all_corpora_split_is_speaker_disjoint_balanced_and_has_no_test(prepared):
    parts = {part: read_table(prepared / "all" / part / "utt2spk") for part in ("train", "valid")}
    assert sorted(p.name for p in (prepared / "all").iterdir()) == ["train", "valid"]
    assert not set(parts["train"].values()) & set(parts["valid"].values())
    for part in ("train", "valid"):
        assert {s.split("_")[0] for s in parts[part].values()} == set(emo_corpora.BY_NAME)
        assert_balanced(read_table(prepared / "all" / part / "emotion"))
    # TESS's two speakers no longer outweigh the other corpora in training
    totals = Counter(u.split("_")[0] for u in parts["train"])
    assert totals["tess"] < 2 * totals["emodb"]


def test_validation_speakers_alternate_gender_and_never_take_all():
    import random

    genders = {f"ravdess_{i:02d}": "M" if i % 2 else "F" for i in range(1, 25)}
    chosen = emo_corpora.valid_speakers(genders, 0.2, random.Random(0))
    assert len(chosen) == 5 and sorted(Counter(genders[s] for s in chosen).values()) == [2, 3]
    assert len(emo_corpora.valid_speakers({"tess_OAF": "F", "tess_YAF": "F"}, 0.2, random.Random(0))) == 1
    assert len(emo_corpora.valid_speakers({"a_1": "F", "a_2": "M"}, 0.9, random.Random(0))) == 1
    assert emo_corpora.valid_speakers({"a_1": "F"}, 0.5, random.Random(0)) == []


def test_same_seed_same_folds_and_a_failed_prep_leaves_the_previous_one(prepared, data_root, tmp_path):
    again = tmp_path / "again"
    emo_corpora.prepare(roots(data_root), again, valid_ratio=0.2, seed=0)
    for fold in ("fold1", "fold2", "fold3"):
        assert parts_of(again / fold, "emotion") == parts_of(prepared / fold, "emotion")
    bad = tmp_path / "ravdess" / "Actor_01"
    bad.mkdir(parents=True)
    shutil.copy(data_root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.ogg", bad / "03-01-01-01-01-01-02.ogg")
    with pytest.raises(emo_corpora.CorpusError, match=r"03-01-01-01-01-01-02.ogg: not a RAVDESS speech file"):
        emo_corpora.prepare({**roots(data_root), "ravdess": tmp_path / "ravdess"}, again)
    assert parts_of(again / "fold1", "emotion") == parts_of(prepared / "fold1", "emotion")


def test_a_single_speaker_corpus_cannot_give_validation_speakers(data_root, tmp_path):
    one = tmp_path / "tess"
    shutil.copytree(data_root / "tess" / "OAF_sad", one / "OAF_sad")
    with pytest.raises(FoldError, match=r"fold1/valid: empty \(held out: ravdess\)"):
        emo_corpora.prepare({"ravdess": data_root / "ravdess", "tess": one}, tmp_path / "out")
    with pytest.raises(emo_corpora.CorpusError, match="expected at least two of"):
        emo_corpora.prepare({"tess": one}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_two_files_of_one_utterance_are_refused(data_root, tmp_path):
    tess = tmp_path / "tess"
    shutil.copytree(data_root / "tess" / "YAF_sad", tess / "YAF_sad")
    shutil.copy(tess / "YAF_sad" / "YAF_back_sad.ogg", tess / "YAF_sad" / "YAF_back_sad.wav")
    with pytest.raises(emo_corpora.CorpusError, match=r"YAF_back_sad.wav: a second file of utterance YAF_back_sad"):
        emo_corpora.collect(emo_corpora.BY_NAME["tess"], tess)
