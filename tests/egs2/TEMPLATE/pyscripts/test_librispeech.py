import pytest
import recipe_helpers
import soundfile
from pyscripts import librispeech
from pyscripts.kaldi_dir import read_table


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "LibriSpeech"
    for subset, spk in (("train-a", "11"), ("train-b", "22"), ("dev", "33")):
        chapter = root / subset / spk / "7"
        chapter.mkdir(parents=True)
        for n in range(2):
            soundfile.write(chapter / f"{spk}-7-{n:04d}.flac", [0.1, -0.1] * 800, 16000)
        (chapter / f"{spk}-7.trans.txt").write_text(f"{spk}-7-0000 HELLO WORLD\n{spk}-7-0001 good bye\n")
    return root


def test_merges_subsets_into_named_sets(tree, tmp_path):
    librispeech.prepare(tree, tmp_path / "data", [("asr_train", "train-a train-b"), ("asr_valid", "dev")])
    text = read_table(tmp_path / "data/asr_train/text")
    assert text == {
        "11-7-0000": "HELLO WORLD",
        "11-7-0001": "GOOD BYE",
        "22-7-0000": "HELLO WORLD",
        "22-7-0001": "GOOD BYE",
    }
    assert read_table(tmp_path / "data/asr_valid/utt2spk") == {"33-7-0000": "33", "33-7-0001": "33"}
    assert read_table(tmp_path / "data/asr_train/wav.scp")["22-7-0001"].endswith("train-b/22/7/22-7-0001.flac")


def test_mistyped_subset_names_present_ones_and_writes_nothing(tree, tmp_path):
    librispeech.prepare(tree, tmp_path / "data", [("asr_valid", "dev")])
    before = (tmp_path / "data/asr_valid/text").read_text()
    with pytest.raises(
        librispeech.CorpusError, match=r"subset folder 'dev-clean' not found .*present: \['dev', 'train-a', 'train-b'\]"
    ):
        librispeech.prepare(tree, tmp_path / "data", [("asr_train", "train-a"), ("asr_valid", "dev-clean")])
    assert not (tmp_path / "data/asr_train").exists()
    assert (tmp_path / "data/asr_valid/text").read_text() == before


def test_missing_root_says_where_to_set_it(tmp_path):
    with pytest.raises(SystemExit, match=r"LIBRISPEECH=.*Libri: no such directory; set LIBRISPEECH in db.sh"):
        librispeech.main(["--root", str(tmp_path / "Libri"), "--out", str(tmp_path / "data"), "--set", "x", "dev"])


@pytest.mark.parametrize("ext, fmt", [(".ogg", "OGG"), (".wav", "WAV")])
def test_reencoded_copies_are_found_beside_their_transcripts(tmp_path, ext, fmt):
    chapter = tmp_path / "LibriSpeech" / "train-x" / "44" / "9"
    chapter.mkdir(parents=True)
    soundfile.write(chapter / f"44-9-0000{ext}", [0.1, -0.1] * 800, 16000, format=fmt)
    (chapter / "44-9.trans.txt").write_text("44-9-0000 SOME WORDS\n")
    librispeech.prepare(tmp_path / "LibriSpeech", tmp_path / "data", [("asr_train", "train-x")])
    assert read_table(tmp_path / "data/asr_train/wav.scp")["44-9-0000"].endswith(f"44-9-0000{ext}")


def test_missing_audio_names_the_extensions_tried(tree, tmp_path):
    next(tree.glob("dev/33/7/*.flac")).unlink()
    with pytest.raises(librispeech.CorpusError, match=r"no audio for 33-7-0000 .*\.flac, \.wav, \.ogg, \.opus"):
        librispeech.prepare(tree, tmp_path / "data", [("asr_valid", "dev")])


def test_iemocap_stage2_holds_speakers_out_of_mini_librispeech(data_root, tmp_path):
    """The IEMOCAP recipe's prep on the real Mini LibriSpeech tree, as a user without dev / test runs it."""
    env = {"LIBRISPEECH": str(data_root / "librispeech_mini" / "LibriSpeech")}
    opts = ["--train_subsets", "train-clean-5", "--valid_speakers", "1737,7312", "--test_speakers", "32,3664"]
    proc = recipe_helpers.run_asr_data("iemocap_qieemo", tmp_path / "data", opts, env)
    assert proc.returncode == 0, proc.stdout[-2000:]
    spk = {
        n: set(read_table(tmp_path / "data" / n / "utt2spk").values()) for n in ("asr_train", "asr_valid", "asr_test")
    }
    assert spk["asr_valid"] == {"1737", "7312"} and spk["asr_test"] == {"32", "3664"}
    assert len(spk["asr_train"]) == 24 and not spk["asr_train"] & (spk["asr_valid"] | spk["asr_test"])
    assert read_table(tmp_path / "data" / "asr_test" / "wav.scp")["32-21631-0000"].endswith(".ogg")


def test_held_out_speakers_must_be_as_many_female_as_male(tree, tmp_path):
    (tree / "SPEAKERS.TXT").write_text("; ID | SEX | SUBSET\n11 | F | a\n22 | M | b\n33 | F | c\n")
    librispeech.prepare(tree, tmp_path / "data", [("asr_train", "train-a train-b dev")], [("asr_valid", ["11", "22"])])
    assert set(read_table(tmp_path / "data/asr_valid/utt2spk").values()) == {"11", "22"}
    assert set(read_table(tmp_path / "data/asr_train/utt2spk").values()) == {"33"}
    with pytest.raises(librispeech.CorpusError, match=r"held-out asr_test 11 33: expected as many female as male"):
        librispeech.prepare(tree, tmp_path / "x", [("asr_train", "train-a dev")], [("asr_test", ["11", "33"])])
    with pytest.raises(librispeech.CorpusError, match=r"held-out asr_test 44: speaker\(s\) \['44'\] not in"):
        librispeech.prepare(tree, tmp_path / "x", [("asr_train", "train-a")], [("asr_test", ["44"])])
    assert not (tmp_path / "x").exists()
