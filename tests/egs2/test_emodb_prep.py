"""EmoDB demo data prep on the real corpora: folds by speaker pair, class sets, ASR sets."""

import shutil
from pathlib import Path

import pytest
import recipe_helpers
from emodb_local import digits_an4, emodb
from pyscripts.folds import check_fold
from pyscripts.kaldi_dir import read_table


@pytest.fixture(scope="module")
def four_class(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("emodb4")
    emodb.prepare(data_root / "emodb" / "wav", out, all_classes=False, valid_ratio=0.15, seed=0)
    return out


def test_four_classes_and_speaker_pair_folds(four_class, data_root):
    emotion = read_table(four_class / "emodb" / "emotion")
    letters = {p.stem[5] for p in (data_root / "emodb" / "wav").glob("*.wav")}
    assert letters == set("WLEAFTN")
    expected = {p.stem for p in (data_root / "emodb" / "wav").glob("*.wav") if p.stem[5] in "NFWT"}
    assert set(emotion) == expected
    assert (four_class / "emodb" / "labels").read_text().split() == ["neu", "hap", "ang", "sad"]
    for k, (male, female) in enumerate(zip(emodb.MALES, emodb.FEMALES), 1):
        fold = four_class / f"fold{k}"
        counts = check_fold(fold)
        speakers = {part: set(read_table(fold / part / "utt2spk").values()) for part in ("train", "valid", "test")}
        assert speakers["test"] == {male, female}
        assert len(speakers["train"]) == 8 and speakers["valid"] <= speakers["train"]
        assert sum(counts.values()) == len(emotion)
        test_labels = read_table(fold / "test" / "emotion")
        assert all(emotion[u] == label for u, label in test_labels.items())
        assert all(u[:2] in (male, female) for u in test_labels)


def test_all_classes_flag_keeps_seven(tmp_path, data_root):
    emodb.prepare(data_root / "emodb" / "wav", tmp_path, all_classes=True, valid_ratio=0.15, seed=0)
    emotion = read_table(tmp_path / "emodb" / "emotion")
    assert len(emotion) == len(list((data_root / "emodb" / "wav").glob("*.wav")))
    assert set(emotion.values()) == set((tmp_path / "emodb" / "labels").read_text().split())
    assert emotion["03a01Fa"] == "hap" and emotion["03a01Wa"] == "ang"


def test_bad_file_name_is_named(tmp_path, data_root):
    wav_dir = tmp_path / "wav"
    wav_dir.mkdir()
    shutil.copy(data_root / "emodb" / "wav" / "03a01Fa.wav", wav_dir / "03a01Xa.wav")
    with pytest.raises(emodb.CorpusError, match="03a01Xa.wav"):
        emodb.prepare(wav_dir, tmp_path / "out", all_classes=False, valid_ratio=0.15, seed=0)
    assert not (tmp_path / "out" / "emodb").exists()


def test_asr_sets_from_fsdd_and_an4(tmp_path, data_root):
    fsdd = data_root / "fsdd" / "recordings"
    digits_an4.prepare(fsdd, data_root / "mini_an4" / "an4", tmp_path)
    sets = {name: read_table(tmp_path / name / "text") for name in ("asr_train", "asr_valid", "asr_test")}
    assert not set(sets["asr_train"]) & (set(sets["asr_valid"]) | set(sets["asr_test"]))
    n_fsdd = len(list(fsdd.glob("*.wav")))
    assert sum(len(t) for t in sets.values()) == n_fsdd + 7  # mini AN4: 5 train + 2 test
    assert sets["asr_train"]["an4_fash_an251-fash-b"] == "YES"
    scp = read_table(tmp_path / "asr_valid" / "wav.scp")
    for utt, text in sets["asr_valid"].items():
        digit, _, n = Path(scp[utt]).stem.split("_")
        assert int(n) <= 1 and text == digits_an4.DIGITS[int(digit)]
    assert {u.split("_")[0] for u in sets["asr_test"]} == {"fsdd", "an4"}


def test_missing_corpus_is_named(tmp_path, data_root):
    with pytest.raises(digits_an4.CorpusError, match="FSDD="):
        digits_an4.prepare(tmp_path / "nowhere", data_root / "mini_an4" / "an4", tmp_path / "out")


def run_asr_data(data_root, tmp_path, *opts):
    return recipe_helpers.run_asr_data("emodb_qieemo", tmp_path / "data", opts, {"QIEEMO_DATA": str(data_root)})


def speakers_of(data: Path, name: str) -> set:
    return set((data / name / "utt2spk").read_text().split()[1::2])


def test_stage2_default_is_speechocean762_plus_librispeech_with_unseen_evaluation_speakers(data_root, tmp_path):
    proc = run_asr_data(data_root, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    names = ("asr_train", "asr_valid", "asr_test", "asr_test_librispeech")
    spk = {name: speakers_of(tmp_path / "data", name) for name in names}
    libri = {name: {s for s in spk[name] if s.startswith("libri_")} for name in names}
    # train: 125 speechocean762 + 24 LibriSpeech speakers; valid: 25 + 2; test: one set per corpus
    assert [len(spk[n]) for n in names] == [149, 27, 100, 2]
    assert [len(libri[n]) for n in names] == [24, 2, 0, 2]
    assert not spk["asr_train"] & (spk["asr_valid"] | spk["asr_test"] | spk["asr_test_librispeech"])
    assert not spk["asr_valid"] & spk["asr_test_librispeech"]
    scp = read_table(tmp_path / "data" / "asr_train" / "wav.scp")
    assert any(path.endswith(".ogg") for path in scp.values())  # the shared copy is Ogg Opus


def test_stage2_speechocean762_alone_keeps_one_test_set(data_root, tmp_path):
    proc = run_asr_data(data_root, tmp_path, "--asr_corpus", "speechocean762", "--test_sets", "asr_test")
    assert proc.returncode == 0, proc.stdout[-2000:]
    spk = {name: speakers_of(tmp_path / "data", name) for name in ("asr_train", "asr_valid", "asr_test")}
    assert [len(spk[n]) for n in ("asr_train", "asr_valid", "asr_test")] == [125, 25, 100]
    assert not spk["asr_train"] & (spk["asr_valid"] | spk["asr_test"])


def test_stage2_unknown_corpus_is_named(data_root, tmp_path):
    proc = run_asr_data(data_root, tmp_path, "--asr_corpus", "librispeech")
    assert proc.returncode != 0
    assert "--asr_corpus 'librispeech': expected so762_librispeech, speechocean762 or digits_an4" in proc.stdout


def test_held_out_librispeech_speakers_are_balanced_by_gender(data_root, tmp_path):
    from emodb_local import so762_librispeech as prep
    from pyscripts.librispeech import CorpusError

    args = (data_root / "speechocean762", data_root / "librispeech_mini" / "LibriSpeech", ["train-clean-5"])
    with pytest.raises(CorpusError, match=r"held-out valid 1737 1088: expected as many female as male .*\['F', 'F'\]"):
        prep.prepare(*args, tmp_path / "data", valid_speakers=["1737", "1088"])
    with pytest.raises(CorpusError, match=r"held-out test 32 99999: speaker\(s\) \['99999'\] not in"):
        prep.prepare(*args, tmp_path / "data", test_speakers=["32", "99999"])
    assert not (tmp_path / "data").exists()
