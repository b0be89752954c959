from pathlib import Path

import pytest
import torch

from espnet_qieemo.tasks.emotion import EmotionTask, encoder_choices, resolve_class_weights, resolve_labels

CONF = Path(__file__).resolve().parents[2] / "egs2" / "iemocap_qieemo" / "emo1" / "conf"
SMALL_CONFORMER = (
    "{output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 3, "
    "input_layer: conv2d, macaron_style: true, use_cnn_module: true}"
)


def parse(*argv: str):
    return EmotionTask.get_parser().parse_args(list(argv))


def test_encoder_choices_are_the_asr_tasks_plus_efficient_conformer():
    for name in ("efficient_conformer", "conformer", "e_branchformer", "transformer", "branchformer"):
        assert name in encoder_choices.classes


def test_encoder_gets_a_scaled_learning_rate(tmp_path):
    args = parse(
        "--labels",
        "a",
        "b",
        "--frontend",
        "default",
        "--encoder",
        "conformer",
        "--encoder_conf",
        SMALL_CONFORMER,
        "--fusion_conf",
        "num_blocks=3",
        "--optim",
        "adam",
        "--optim_conf",
        "lr=0.01",
        "--encoder_lr_scale",
        "0.1",
        "--output_dir",
        str(tmp_path),
    )
    model = EmotionTask.build_model(args)
    [optim] = EmotionTask.build_optimizers(args, model)
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    lrs = {}
    for group in optim.param_groups:
        kinds = {id(p) in encoder_ids for p in group["params"]}
        assert len(kinds) == 1
        lrs[kinds.pop()] = group["lr"]
    assert lrs == {True: pytest.approx(0.001), False: pytest.approx(0.01)}
    assert sum(len(g["params"]) for g in optim.param_groups) == len(list(model.parameters()))


def test_label_list_file_fixes_the_classes(tmp_path):
    (tmp_path / "labels").write_text("neu\nhap\nang\nsad\n")
    args = parse("--label_list", str(tmp_path / "labels"))
    assert resolve_labels(args) == ["neu", "hap", "ang", "sad"]
    assert args.labels == ["neu", "hap", "ang", "sad"] and args.label_list is None  # stored inline
    (tmp_path / "dup").write_text("neu\nhap\nneu\n")
    with pytest.raises(ValueError, match=r"dup: duplicated labels \['neu'\]"):
        resolve_labels(parse("--label_list", str(tmp_path / "dup")))
    with pytest.raises(ValueError, match="emotion classes are unset"):
        resolve_labels(parse())


def test_missing_encoder_without_asr_init_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no encoder: set `encoder:` in the config or give --asr_init"):
        EmotionTask.build_model(parse("--labels", "a", "b", "--frontend", "default", "--output_dir", str(tmp_path)))


@pytest.mark.parametrize("config", sorted(p.name for p in CONF.glob("train_emo_*.yaml")))
def test_every_emotion_config_parses(config):
    args = parse("--config", str(CONF / config), "--labels", "a", "b")
    assert args.fusion in ("mmf", "last_layer", "weighted_sum")
    assert ["valid", "ua", "max"] in [list(c) for c in args.best_model_criterion]
    assert args.model_conf["class_weights"] == "balanced" and args.keep_nbest_models == 3
    if "scratch" in config:
        assert args.encoder == "efficient_conformer" and args.encoder_conf


def test_scratch_config_builds_the_paper_size_model(tmp_path):
    args = parse(
        "--config",
        str(CONF / "train_emo_qieemo_scratch.yaml"),
        "--labels",
        "a",
        "b",
        "c",
        "d",
        "--output_dir",
        str(tmp_path),
    )
    model = EmotionTask.build_model(args)
    assert len(model.encoder.encoders) == 12
    assert model.fusion.num_blocks == 6 and model.attention.output_size() == 256
    assert model.classifier.hidden.out_features == 256
    logits = model.eval().classify(torch.zeros(1, 8000), torch.tensor([8000]))
    assert logits.shape == (1, 4)


def test_balanced_class_weights_come_from_the_training_labels(tmp_path):
    (tmp_path / "emotion").write_text("u1 neu\nu2 neu\nu3 neu\nu4 sad\n")
    args = parse(
        "--labels",
        "neu",
        "sad",
        "--model_conf",
        "class_weights=balanced",
        "--train_data_path_and_name_and_type",
        f"{tmp_path}/wav.scp,speech,sound",
        "--train_data_path_and_name_and_type",
        f"{tmp_path}/emotion,emotion,text",
    )
    resolve_class_weights(args, ["neu", "sad"])
    assert args.model_conf["class_weights"] == pytest.approx([4 / (2 * 3), 4 / (2 * 1)], abs=1e-6)
    args = parse(
        "--labels",
        "neu",
        "hap",
        "sad",
        "--model_conf",
        "class_weights=balanced",
        "--train_data_path_and_name_and_type",
        f"{tmp_path}/emotion,emotion,text",
    )
    with pytest.raises(ValueError, match=r"emotion: no training utterance of class\(es\) \['hap'\]"):
        resolve_class_weights(args, ["neu", "hap", "sad"])
