"""A small emotion model trained by ``emo_train`` (1 epoch, a few EmoDB files), packed once; the shipped
default model's weights packed without their temperature, and calibrated again by ``emo_calibrate``
on a few clips of each corpus."""

import contextlib
import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import soundfile

from espnet_qieemo.bin.emo_pack import pack_emotion_model
from espnet_qieemo.utils import audio

EMOTIONS = {"N": "neutral", "F": "happy", "W": "angry", "T": "sad"}
TRAIN_SPEAKERS, VALID_SPEAKERS = ("03", "08", "09"), ("10",)


@dataclass
class EmoModel:
    config: Path
    model_file: Path
    packed: Path
    labels: list


def write_emodb_dir(wav_dir: Path, speakers, out: Path, per_class: int = 2) -> None:
    """Kaldi data dir of ``per_class`` EmoDB files per speaker and emotion (N/F/W/T), at 16 kHz."""
    (out / "wav").mkdir(parents=True)
    with open(out / "wav.scp", "w") as scp, open(out / "emotion", "w") as emo, open(out / "utt2spk", "w") as spk:
        for speaker in speakers:
            for letter, label in EMOTIONS.items():
                for path in sorted(wav_dir.glob(f"{speaker}???{letter}?.wav"))[:per_class]:
                    target = out / "wav" / path.name
                    soundfile.write(target, audio.load(path), audio.TARGET_FS)
                    scp.write(f"{path.stem} {target}\n")
                    emo.write(f"{path.stem} {label}\n")
                    spk.write(f"{path.stem} {speaker}\n")


@pytest.fixture(scope="session")
def emo_model(asr_exp, data_root, tmp_path_factory) -> EmoModel:
    """Initialised from the small efficient-conformer ASR model with its CTC/decoder kept.

    The encoder stays frozen (freeze_encoder_steps), so the kept CTC head must transcribe
    exactly as the ASR model does; only the emotion modules are trained.
    """
    asr = asr_exp("efficient_conformer")
    work = tmp_path_factory.mktemp("emo_model")
    wav_dir = data_root / "emodb" / "wav"
    write_emodb_dir(wav_dir, TRAIN_SPEAKERS, work / "train")
    write_emodb_dir(wav_dir, VALID_SPEAKERS, work / "valid")
    (work / "labels").write_text("\n".join(EMOTIONS.values()) + "\n")
    exp = work / "exp"
    cmd = [
        sys.executable,
        "-m",
        "espnet_qieemo.bin.emo_train",
        "--asr_init",
        str(asr.dir),
        "--keep_asr_heads",
        "true",
        "--label_list",
        str(work / "labels"),
        "--output_dir",
        str(exp),
        "--ngpu",
        "0",
        "--num_workers",
        "0",
        "--use_tensorboard",
        "false",
        "--max_epoch",
        "1",
        "--batch_type",
        "unsorted",
        "--batch_size",
        "8",
        "--optim",
        "adam",
        "--optim_conf",
        "lr=0.001",
        "--model_conf",
        "freeze_encoder_steps=1000",
        "--num_att_plot",
        "0",
    ]
    for split in ("train", "valid"):
        d = work / split
        cmd += [
            f"--{split}_data_path_and_name_and_type",
            f"{d}/wav.scp,speech,sound",
            f"--{split}_data_path_and_name_and_type",
            f"{d}/emotion,emotion,text",
            f"--{split}_shape_file",
            f"{d}/wav.scp",
        ]
    with open(work / "train.log", "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError("emo_train failed:\n" + "".join((work / "train.log").read_text().splitlines(True)[-30:]))
    config, model_file = exp / "config.yaml", exp / "valid.loss.best.pth"
    packed = pack_emotion_model(config, model_file, work / "emo_model.zip")
    return EmoModel(config, model_file, packed, list(EMOTIONS.values()))


# (file under $QIEEMO_DATA, label): two speakers of each corpus, one clip per class.
CALIBRATION_CLIPS = [
    *(
        (f"ravdess/Actor_{a}/03-01-{code}-01-01-01-{a}.ogg", label)
        for a in ("01", "02")
        for code, label in (("01", "neu"), ("03", "hap"), ("05", "ang"), ("04", "sad"))
    ),
    *(
        (f"tess/OAF_{e}/OAF_{word}_{e}.ogg", label)
        for word in ("back", "bar")
        for e, label in (("neutral", "neu"), ("happy", "hap"), ("angry", "ang"), ("sad", "sad"))
    ),
    *(
        (f"emodb/wav/{name}.wav", label)
        for name, label in (("03a01Nc", "neu"), ("03a01Fa", "hap"), ("03a01Wa", "ang"), ("08a02Tb", "sad"))
    ),
]


@pytest.fixture(scope="session")
def uncalibrated_model(tmp_path_factory) -> Path:
    """The shipped default model's config and weights packed again without its temperature."""
    from espnet_qieemo.bin import qieemo_cli
    from espnet_qieemo.utils.safe_unpack import model_files

    work = tmp_path_factory.mktemp("uncalibrated")
    files = model_files(qieemo_cli.SHIPPED_MODEL, work / "unpacked")
    return pack_emotion_model(Path(files["train_config"]), Path(files["model_file"]), work / "uncalibrated.zip")


@dataclass
class CalibratedModel:
    packed: Path  # the shipped default model's weights, packed again with the fitted calibration
    calibration: Path  # the calibration.yaml written beside it
    data_dir: Path  # the Kaldi dir it was fitted on
    report: str  # what emo_calibrate printed


def write_labelled_dir(data_root: Path, clips, out: Path) -> Path:
    """wav.scp + emotion of ``(file under data_root, label)`` clips, read where they are."""
    out.mkdir(parents=True)
    keys = [Path(f).stem for f, _ in clips]
    (out / "wav.scp").write_text("".join(f"{k} {data_root / f}\n" for k, (f, _) in zip(keys, clips)))
    (out / "emotion").write_text("".join(f"{k} {label}\n" for k, (_, label) in zip(keys, clips)))
    return out


@pytest.fixture(scope="session")
def calibrated_model(data_root, uncalibrated_model, tmp_path_factory) -> CalibratedModel:
    """``emo_calibrate`` on the shipped weights (no training needed): EmoDB, RAVDESS and TESS clips."""
    from espnet_qieemo.bin import emo_calibrate

    work = tmp_path_factory.mktemp("calibrated")
    data_dir = write_labelled_dir(data_root, CALIBRATION_CLIPS, work / "valid")
    args = ["--model_tag", str(uncalibrated_model), "--data_dir", str(data_dir)]
    args += ["--outpath", str(work / "calibrated.zip"), "--output_file", str(work / "calibration.yaml")]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        emo_calibrate.calibrate(emo_calibrate.get_parser().parse_args(args))
    return CalibratedModel(work / "calibrated.zip", work / "calibration.yaml", data_dir, printed.getvalue())
