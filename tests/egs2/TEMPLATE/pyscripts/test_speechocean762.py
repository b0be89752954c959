"""speechocean762 to ASR sets: real corpus layout, unseen speakers for validation and test."""

from pathlib import Path

import pytest
from pyscripts import speechocean762
from pyscripts.kaldi_dir import DataDirError, read_table


@pytest.fixture(scope="module")
def sets(data_root, tmp_path_factory):
    root = data_root / "speechocean762"
    out = tmp_path_factory.mktemp("so762")
    speechocean762.prepare(root, out)
    return root, out


def speakers(out, name):
    return set(read_table(out / name / "utt2spk").values())


def test_train_is_the_corpus_train_part_and_test_speakers_are_unseen(sets):
    _, out = sets
    counts = {name: len(read_table(out / name / "text")) for name in ("asr_train", "asr_valid", "asr_test")}
    assert counts == {"asr_train": 2500, "asr_valid": 500, "asr_test": 2000}
    train, valid, test = (speakers(out, n) for n in ("asr_train", "asr_valid", "asr_test"))
    assert (len(train), len(valid), len(test)) == (125, 25, 100)
    assert not (train & valid) and not (train & test) and not (valid & test)


def test_rows_point_at_existing_audio_with_upper_case_text(sets):
    _, out = sets
    wav = read_table(out / "asr_test" / "wav.scp")
    text = read_table(out / "asr_test" / "text")
    assert wav.keys() == text.keys()
    key = sorted(wav)[0]
    assert key.startswith("so762_") and wav[key].endswith(".ogg")
    assert all(t == t.upper() and t.strip() for t in text.values())
    assert all(Path(p).is_file() for p in list(wav.values())[:50])


def test_missing_audio_is_named_and_nothing_is_written(sets, tmp_path):
    root, _ = sets
    fake = tmp_path / "so762"
    for part in ("train", "test"):
        (fake / part).mkdir(parents=True)
        for name in ("wav.scp", "text", "utt2spk"):
            (fake / part / name).write_text((root / part / name).read_text())
    with pytest.raises(DataDirError, match=r"train/wav.scp: audio .*\.ogg of \d+ not found"):
        speechocean762.prepare(fake, tmp_path / "data")
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_missing_corpus_folder_says_what_is_expected(tmp_path):
    with pytest.raises(
        SystemExit, match=r"SPEECHOCEAN762=.*nope/train not found; expected the corpus' train/ and test/"
    ):
        speechocean762.main(["--root", str(tmp_path / "nope"), "--out", str(tmp_path / "data")])
