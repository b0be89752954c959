"""Noises and impulse responses made from the real Mini LibriSpeech tree, then used by ESPnet's
trainer: the multi-corpus config trains from the shipped backbone with them."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from emodb_local import make_augmentation
from pyscripts.kaldi_dir import DataDirError, read_table

from espnet_qieemo.bin import emo_train
from espnet_qieemo.tasks.emotion import EmotionTask

RECIPE = Path(__file__).resolve().parents[4] / "egs2" / "emodb_qieemo" / "emo1"


def make_small(data_root: Path, out: Path) -> Path:
    """3 babble noises of 4 talkers, 1 noise per colour, 4 RIRs of RT60 0.3-0.6 s; 2 s each."""
    librispeech = data_root / "librispeech_mini" / "LibriSpeech" / "train-clean-5"
    make_augmentation.make(
        librispeech, out, n_babble=3, talkers=4, n_colour=1, n_rir=4, rt60=(0.3, 0.6), seconds=2.0, seed=0
    )
    return out


@pytest.fixture(scope="module")
def made(data_root, tmp_path_factory) -> Path:
    return make_small(data_root, tmp_path_factory.mktemp("aug") / "augmentation")


def test_noises_and_rirs_are_listed_16k_and_shaped_as_declared(made):
    noises, rirs = read_table(made / "noise.scp"), read_table(made / "rir.scp")
    assert sorted(noises) == ["babble00", "babble01", "babble02", "brown00", "pink00", "white00"]
    assert len(rirs) == 4
    for path in [*noises.values(), *rirs.values()]:
        assert Path(path).is_absolute() and soundfile.info(path).samplerate == 16000
    for key in noises:
        wav, _ = soundfile.read(noises[key])
        assert len(wav) == 32000 and 0.4 < np.max(np.abs(wav)) <= 0.5 and np.std(wav) > 0.01

    # brown noise is low-pass, white is flat: compare the energy above 4 kHz
    def high_share(key):
        spec = np.abs(np.fft.rfft(soundfile.read(noises[key])[0])) ** 2
        return spec[len(spec) // 2 :].sum() / spec.sum()

    assert high_share("brown00") < 0.01 < 0.3 < high_share("white00")
    for path in rirs.values():
        rir, _ = soundfile.read(path)
        assert np.argmax(np.abs(rir)) == 0 and 0.3 * 16000 <= len(rir) <= 0.6 * 16000
        tail = np.abs(rir[len(rir) // 2 :]).max()
        assert tail < 0.05  # -30 dB of the 60 dB decay by half the RT60, plus noise peaks


def test_same_seed_same_files_and_a_tree_without_speakers_is_refused(made, data_root, tmp_path):
    again = make_small(data_root, tmp_path / "augmentation")
    for name in ("noise/babble01.wav", "rir/rir03.wav"):
        assert (again / name).read_bytes() == (made / name).read_bytes()
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.make_augmentation",
            "--librispeech",
            str(tmp_path / "empty"),
            "--out",
            str(again),
        ],
        cwd=RECIPE,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "expected LibriSpeech speaker folders" in result.stderr
    assert (again / "noise.scp").read_text() == (made / "noise.scp").read_text().replace(str(made), str(again))
    with pytest.raises(DataDirError):
        make_augmentation.speakers_audio(tmp_path / "empty")


def emodb_dir(wav_dir: Path, speaker: str, per_class: int, out: Path) -> Path:
    """A Kaldi dir of real EmoDB clips of one speaker, labelled with the multi-corpus classes."""
    out.mkdir(parents=True)
    rows = []
    for letter, label in (("N", "neu"), ("F", "hap"), ("W", "ang"), ("T", "sad")):
        files = sorted(p for p in wav_dir.glob(f"{speaker}*.wav") if p.stem[5] == letter)[:per_class]
        rows += [(p, label) for p in files]
    (out / "wav.scp").write_text("".join(f"{p.stem} {p}\n" for p, _ in rows))
    (out / "emotion").write_text("".join(f"{p.stem} {label}\n" for p, label in rows))
    (out / "speech_shape").write_text("".join(f"{p.stem} {soundfile.info(p).frames}\n" for p, _ in rows))
    return out


def test_multicorpus_config_trains_from_the_shipped_backbone_with_the_made_augmentation(made, data_root, tmp_path):
    """One epoch of ESPnet's trainer with every augmentation part applied to every clip."""
    wav_dir = data_root / "emodb" / "wav"
    data = {
        part: emodb_dir(wav_dir, spk, n, tmp_path / part) for part, spk, n in (("train", "03", 2), ("valid", "16", 1))
    }
    (tmp_path / "labels").write_text("neu\nhap\nang\nsad\n")
    cmd = [
        "--config",
        str(RECIPE / "conf" / "train_emo_qieemo_multicorpus.yaml"),
        "--label_list",
        str(tmp_path / "labels"),
        "--asr_init",
        str(RECIPE / "pretrained" / "asr_efficient_conformer_so762.zip"),
        "--output_dir",
        str(tmp_path / "exp"),
        "--ngpu",
        "0",
        "--num_workers",
        "0",
        "--use_tensorboard",
        "false",
        "--max_epoch",
        "1",
        "--batch_size",
        "4",
        "--rir_scp",
        str(made / "rir.scp"),
        "--noise_scp",
        str(made / "noise.scp"),
        "--rir_apply_prob",
        "1.0",
        "--noise_apply_prob",
        "1.0",
        "--gain_apply_prob",
        "1.0",
        "--preprocessor_conf",
        "data_aug_prob=1.0",
        "--fold_length",
        "80000",
    ]
    for part, d in data.items():
        cmd += [
            f"--{part}_data_path_and_name_and_type",
            f"{d}/wav.scp,speech,sound",
            f"--{part}_data_path_and_name_and_type",
            f"{d}/emotion,emotion,text",
            f"--{part}_shape_file",
            f"{d}/speech_shape",
        ]
    emo_train.main(cmd)
    assert (tmp_path / "exp" / "1epoch.pth").is_file() and (tmp_path / "exp" / "valid.ua.best.pth").is_file()
    config = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert config["rir_scp"] == str(made / "rir.scp") and config["preprocessor_conf"]["data_aug_prob"] == 1.0
    args = argparse.Namespace(**config)  # the trained model's own record of its augmentation
    assert EmotionTask.build_preprocess_fn(args, True).augmentation is not None
    assert EmotionTask.build_preprocess_fn(args, False).augmentation is None
