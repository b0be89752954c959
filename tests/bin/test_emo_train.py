"""emo_train end to end: ESPnet's trainer on a small real EmoDB subset (16 kHz, N/F/W/T)."""

import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List

import pytest
import soundfile
import torch
import yaml
from hostile_models import ESCAPE, code_running_checkpoint, meta_yaml, model_members, paths_outside, write_zip

from espnet_qieemo.bin import emo_train
from espnet_qieemo.tasks.emotion import EmotionTask, encoder_choices
from espnet_qieemo.utils import audio
from espnet_qieemo.utils.safe_unpack import UnsafeArchiveError, check_model

EGS2 = Path(__file__).resolve().parents[2] / "egs2"
CONF = EGS2 / "iemocap_qieemo" / "emo1" / "conf"
PRETRAINED = EGS2 / "emodb_qieemo" / "emo1" / "pretrained"
# The shipped ASR backbones and the small emotion config of the same encoder type.
BACKBONES = {
    "asr_efficient_conformer_so762.zip": "train_emo_qieemo_small.yaml",
    "asr_conformer_so762.zip": "train_emo_qieemo_conformer_small.yaml",
}
LABELS = ["N", "F", "W", "T"]  # EmoDB letters: neutral, happiness, anger, sadness
TRAIN_PER_CLASS, VALID_PER_CLASS, VALID_SPEAKER = 8, 2, "16"
# The gated CMA form (the default) starts as an even mix of E and O, so it fits more slowly.
EPOCHS = 16


def write_subset(wav_dir: Path, out: Path, per_class, valid: bool) -> Path:
    """Kaldi dir (wav.scp, emotion, utt2spk, speech_shape) of EmoDB files resampled to 16 kHz.

    Resampling here, as a recipe's data prep does, keeps the ASR frontend (fs 16k) unchanged.
    """
    (out / "wav").mkdir(parents=True)
    rows = []
    counts = per_class if isinstance(per_class, dict) else dict.fromkeys(LABELS, per_class)
    for label in LABELS:
        files = [
            p for p in sorted(wav_dir.glob("*.wav")) if p.stem[5] == label and (p.stem[:2] == VALID_SPEAKER) == valid
        ]
        rows += [(p, label) for p in files[: counts[label]]]
    with (
        open(out / "wav.scp", "w") as scp,
        open(out / "emotion", "w") as emo,
        open(out / "utt2spk", "w") as spk,
        open(out / "speech_shape", "w") as shape,
    ):
        for path, label in rows:
            wave = audio.load(path)
            soundfile.write(out / "wav" / path.name, wave, audio.TARGET_FS)
            scp.write(f"{path.stem} {out / 'wav' / path.name}\n")
            emo.write(f"{path.stem} {label}\n")
            spk.write(f"{path.stem} {path.stem[:2]}\n")
            shape.write(f"{path.stem} {len(wave)}\n")
    return out


def write_data(wav_dir: Path, root: Path, train_per_class, valid_per_class) -> Path:
    """``root/{train,valid}`` Kaldi dirs and ``root/labels``."""
    write_subset(wav_dir, root / "train", train_per_class, valid=False)
    write_subset(wav_dir, root / "valid", valid_per_class, valid=True)
    (root / "labels").write_text("\n".join(LABELS) + "\n")
    return root


@pytest.fixture(scope="module")
def emodb_subset(data_root, tmp_path_factory) -> Path:
    return write_data(
        data_root / "emodb" / "wav", tmp_path_factory.mktemp("emodb_subset"), TRAIN_PER_CLASS, VALID_PER_CLASS
    )


@pytest.fixture(scope="module")
def tiny_subset(data_root, tmp_path_factory) -> Path:
    """One utterance per class for training and for validation: enough to run the trainer."""
    return write_data(data_root / "emodb" / "wav", tmp_path_factory.mktemp("tiny_subset"), 1, 1)


def train_cmd(data: Path, out: Path, *options: str) -> List[str]:
    cmd = [
        "--label_list",
        str(data / "labels"),
        "--output_dir",
        str(out),
        "--ngpu",
        "0",
        "--num_workers",
        "0",
        "--use_tensorboard",
        "false",
        "--num_att_plot",
        "0",
        "--seed",
        "0",
        "--fold_length",
        "80000",
    ]
    for split in ("train", "valid"):
        cmd += [
            f"--{split}_data_path_and_name_and_type",
            f"{data / split}/wav.scp,speech,sound",
            f"--{split}_data_path_and_name_and_type",
            f"{data / split}/emotion,emotion,text",
            f"--{split}_shape_file",
            f"{data / split}/speech_shape",
        ]
    return cmd + list(options)


def epoch_stats(exp: Path) -> dict:
    reporter = torch.load(exp / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]
    return reporter["stats"]


def test_full_model_from_asr_checkpoint_fits_the_subset(emodb_subset, asr_exp, tmp_path):
    asr = asr_exp("efficient_conformer")
    exp = tmp_path / "exp"
    # The full model (MMF + CMA) on the pretrained encoder, kept frozen (freeze_encoder_steps
    # beyond the run) and without augmentation or dropout, so fitting is fast and repeatable.
    cmd = [
        sys.executable,
        "-m",
        "espnet_qieemo.bin.emo_train",
        *train_cmd(
            emodb_subset,
            exp,
            "--config",
            str(CONF / "train_emo_qieemo_small.yaml"),
            "--asr_init",
            str(asr.dir),
            "--max_epoch",
            str(EPOCHS),
            "--specaug",
            "none",
            "--model_conf",
            "freeze_encoder_steps=1000",
            "--fusion_conf",
            "dropout_rate=0.0",
            "--classifier_conf",
            "dropout_rate=0.0",
            "--scheduler",
            "none",
            "--optim_conf",
            "lr=0.005",
        ),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]

    stats = epoch_stats(exp)
    last = stats[max(stats)]
    assert last["train"]["acc"] >= 0.9, {e: s["train"]["acc"] for e, s in stats.items()}
    assert 0.0 <= last["valid"]["ua"] <= 1.0 and 0.0 <= last["train"]["ua"] <= 1.0
    for criterion in ("valid.ua.best.pth", "valid.acc.best.pth", "valid.ua.ave.pth"):
        assert (exp / criterion).exists()

    # config.yaml is self-contained: labels inline, backbone resolved, statistics inside exp
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["labels"] == LABELS and config["asr_init"] is None
    assert config["encoder"] == "efficient_conformer" and config["encoder_conf"]["num_blocks"] == 6
    assert Path(config["normalize_conf"]["stats_file"]).parent == exp
    model, _ = EmotionTask.build_model_from_file(exp / "config.yaml", exp / "valid.ua.best.pth")
    assert model.labels == LABELS


IMBALANCED = {"N": 12, "F": 2, "W": 12, "T": 2}
# Two clips of a class weigh 3.5 each: 16 epochs fit them under one thread count and not another.
IMBALANCED_EPOCHS = 24


def test_balanced_class_weights_keep_every_class_predicted(data_root, asr_exp, tmp_path):
    """A deliberately imbalanced EmoDB subset (12/2/12/2): with `class_weights: balanced` (the
    configs' default) every class is still predicted, the weights come from the training
    fold's counts, and the UA curves are written as PNG and TensorBoard events."""
    data = write_data(data_root / "emodb" / "wav", tmp_path / "data", IMBALANCED, VALID_PER_CLASS)
    exp = tmp_path / "exp"
    options = train_cmd(
        data,
        exp,
        "--config",
        str(CONF / "train_emo_qieemo_small.yaml"),
        "--asr_init",
        str(asr_exp("efficient_conformer").dir),
        "--max_epoch",
        str(IMBALANCED_EPOCHS),
        "--specaug",
        "none",
        "--model_conf",
        "freeze_encoder_steps=1000",
        "--scheduler",
        "none",
        "--optim_conf",
        "lr=0.005",
    )
    options[options.index("--use_tensorboard") + 1] = "true"
    proc = subprocess.run(
        [sys.executable, "-m", "espnet_qieemo.bin.emo_train", *options], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    config = yaml.safe_load((exp / "config.yaml").read_text())
    total = sum(IMBALANCED.values())
    assert config["model_conf"]["class_weights"] == pytest.approx(
        [total / (4 * IMBALANCED[c]) for c in LABELS], abs=1e-6
    )
    # The last epoch: what the weighted loss learned (selection on 8 validation utterances is noise).
    model, _ = EmotionTask.build_model_from_file(exp / "config.yaml", exp / "latest.pth")
    model.eval()
    keys = [line.split()[0] for line in (data / "train" / "wav.scp").read_text().splitlines()]
    waves = [torch.from_numpy(audio.load(data / "train" / "wav" / f"{k}.wav")).float() for k in keys]
    with torch.no_grad():
        predicted = {int(model.classify(w[None], torch.tensor([len(w)])).argmax()) for w in waves}
    assert predicted == set(range(4)), [LABELS[i] for i in sorted(predicted)]
    assert (exp / "images" / "ua.png").is_file()  # train and valid UA per epoch
    assert list((exp / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    "encoder, encoder_conf",
    [
        (
            "efficient_conformer",
            "{output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 4, "
            "stride_layer_idx: [1], stride: [2], group_layer_idx: [0], group_size: 3}",
        ),
        ("conformer", "{output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 4}"),
        (
            "e_branchformer",
            "{output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 4, cgmlp_linear_units: 64}",
        ),
    ],
)
def test_backbone_is_switched_in_yaml_alone(emodb_subset, tmp_path, encoder, encoder_conf):
    config = yaml.safe_load((CONF / "train_emo_qieemo_scratch_small.yaml").read_text())
    config.update(
        encoder=encoder,
        encoder_conf=yaml.safe_load(encoder_conf),
        max_epoch=1,
        num_iters_per_epoch=2,
        fusion_conf=dict(config["fusion_conf"], num_blocks=4),
    )
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(config))
    exp = tmp_path / "exp"
    emo_train.main(train_cmd(emodb_subset, exp, "--config", str(tmp_path / "conf.yaml")))
    stats = epoch_stats(exp)[1]
    assert {"loss", "acc", "ua"} <= set(stats["valid"])
    model, _ = EmotionTask.build_model_from_file(exp / "config.yaml", exp / "1epoch.pth")
    assert type(model.encoder) is encoder_choices.get_class(encoder)


def test_unknown_label_in_the_data_names_the_utterance(emodb_subset, tmp_path):
    data = tmp_path / "data"
    for split in ("train", "valid"):
        (data / split).mkdir(parents=True)
        for name in ("wav.scp", "speech_shape", "emotion"):
            (data / split / name).write_text((emodb_subset / split / name).read_text())
    lines = (data / "train" / "emotion").read_text().splitlines()
    utt = lines[0].split()[0]
    (data / "train" / "emotion").write_text("\n".join([f"{utt} L"] + lines[1:]) + "\n")
    (data / "labels").write_text((emodb_subset / "labels").read_text())
    with pytest.raises(ValueError, match=rf"utterance '{utt}': emotion label 'L' is not in the label list"):
        emo_train.main(
            train_cmd(
                data,
                tmp_path / "exp",
                "--config",
                str(CONF / "train_emo_qieemo_scratch_small.yaml"),
                "--max_epoch",
                "1",
            )
        )


@pytest.mark.parametrize("name, config", BACKBONES.items())
def test_emotion_training_from_a_shipped_backbone_unpacked_as_a_hub_folder(name, config, tiny_subset, tmp_path):
    """The model-hub layout: the packed ASR model unzipped as it is, every path relative to its root."""
    hub = tmp_path / "hub"
    zipfile.ZipFile(PRETRAINED / name).extractall(hub)
    exp = tmp_path / "exp"
    options = ("--asr_init", str(hub), "--max_epoch", "1", "--batch_type", "unsorted", "--batch_size", "4")
    freeze = ("--model_conf", "freeze_encoder_steps=1000")  # the encoder keeps the backbone's weights
    emo_train.main(train_cmd(tiny_subset, exp, "--config", str(CONF / config), *options, *freeze))

    meta = check_model(hub)
    asr = torch.load(hub / meta["files"]["asr_model_file"], weights_only=True)
    trained = torch.load(exp / "1epoch.pth", weights_only=True)
    encoder = {k: v for k, v in asr.items() if k.startswith("encoder.")}
    assert encoder and all(torch.equal(trained[k], v) for k, v in encoder.items())
    stats = yaml.safe_load((hub / meta["yaml_files"]["asr_train_config"]).read_text())["normalize_conf"]["stats_file"]
    assert (exp / "asr_feats_stats.npz").read_bytes() == (hub / stats).read_bytes()  # relative to the hub's root
    assert (exp / "valid.ua.best.pth").exists()


def test_asr_init_refuses_a_hostile_archive_and_writes_nothing_outside(tiny_subset, tmp_path):
    evil = write_zip(tmp_path / "evil.zip", {**model_members(), "meta.yaml": meta_yaml(config=ESCAPE), ESCAPE: "a: 1"})
    exp = tmp_path / "work" / "exp"  # unpacked into exp/asr_init: ESCAPE names work/escaped.yaml
    before = paths_outside(tmp_path, exp)
    with pytest.raises(UnsafeArchiveError, match=f"unsafe archive.*member '{ESCAPE}' contains '..'"):
        emo_train.main(train_cmd(tiny_subset, exp, "--asr_init", str(evil), "--dry_run", "true"))
    assert paths_outside(tmp_path, exp) == before


@pytest.mark.parametrize("form", ["hub folder", "exp dir"])
def test_asr_init_refuses_weights_whose_pickle_runs_code(form, tiny_subset, tmp_path):
    hub = tmp_path / "hub"
    zipfile.ZipFile(PRETRAINED / "asr_efficient_conformer_so762.zip").extractall(hub)
    weights = hub / check_model(hub)["files"]["asr_model_file"]
    marker = tmp_path / "ran"
    code_running_checkpoint(weights, marker, torch.load(weights, weights_only=True))
    source = hub if form == "hub folder" else weights.parent  # exp/<asr exp>: config.yaml + the .pth
    with pytest.raises(ValueError, match="pickled Python objects .*torch.save\\(model.state_dict\\(\\), path\\)"):
        emo_train.main(train_cmd(tiny_subset, tmp_path / "exp", "--asr_init", str(source), "--dry_run", "true"))
    assert not marker.exists()
