"""Initialising the emotion model from real ESPnet ASR experiments (trained by the fixtures)."""

import subprocess
import sys

import pytest
import torch
import yaml

from espnet_qieemo.tasks.emotion import EmotionTask


def init_args(tmp_path, asr_init, *options):
    argv = [
        "--labels",
        "N",
        "F",
        "W",
        "T",
        "--asr_init",
        str(asr_init),
        "--output_dir",
        str(tmp_path / "emo"),
        "--fusion_conf",
        "output_size=32",
        *options,
    ]
    return EmotionTask.get_parser().parse_args(argv)


def assert_parts_equal(model, model_file, parts):
    asr_state = torch.load(model_file, map_location="cpu")
    own = model.state_dict()
    keys = [k for k in asr_state if k.startswith(tuple(f"{p}." for p in parts))]
    assert any(k.startswith("encoder.") for k in keys)
    for k in keys:
        assert torch.equal(own[k], asr_state[k]), k


@pytest.mark.parametrize("encoder, stock", [("conformer", True), ("efficient_conformer", False)])
def test_init_copies_the_checkpoint_encoder_and_resolves_the_config(tmp_path, asr_exp, encoder, stock):
    exp = asr_exp(encoder, stock=stock)
    args = init_args(tmp_path, exp.dir, "--asr_model_file", str(exp.model_file))
    model = EmotionTask.build_model(args)
    assert_parts_equal(model, exp.model_file, ["encoder", "frontend", "normalize"])
    asr_config = yaml.safe_load(exp.config.read_text())
    assert (args.encoder, args.encoder_conf) == (asr_config["encoder"], asr_config["encoder_conf"])
    assert args.frontend_conf == asr_config["frontend_conf"]
    # the statistics now live in the emotion experiment; the ASR files are no longer needed
    assert args.normalize_conf["stats_file"] == str(tmp_path / "emo" / "asr_feats_stats.npz")
    assert args.asr_init is None and args.asr_model_file is None
    assert model.ctc is None and model.token_list is None


def test_init_from_packed_zip_keeps_frozen_asr_heads(tmp_path, asr_exp):
    exp = asr_exp("conformer", stock=True)
    stats = yaml.safe_load(exp.config.read_text())["normalize_conf"]["stats_file"]
    zip_path = tmp_path / "asr.zip"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "espnet2.bin.pack",
            "asr",
            "--asr_train_config",
            str(exp.config),
            "--asr_model_file",
            str(exp.model_file),
            "--option",
            stats,
            "--outpath",
            str(zip_path),
        ],
        check=True,
        capture_output=True,
        cwd=exp.dir.parent,  # as a recipe packs: members named relative to it (absolute ones are refused)
    )
    args = init_args(tmp_path, zip_path, "--keep_asr_heads", "true")
    model = EmotionTask.build_model(args)
    assert_parts_equal(model, exp.model_file, ["encoder", "normalize", "ctc", "decoder"])
    assert model.token_list == yaml.safe_load(exp.config.read_text())["token_list"]
    assert not any(p.requires_grad for p in model.ctc.parameters())
    assert not any(p.requires_grad for p in model.decoder.parameters())
    assert args.asr_heads["token_list"] == model.token_list  # rebuilt from config.yaml alone


def test_encoder_mismatch_lists_the_keys_that_differ(tmp_path, asr_exp):
    exp = asr_exp("conformer", stock=True)
    args = init_args(
        tmp_path,
        exp.dir,
        "--encoder",
        "conformer",
        "--encoder_conf",
        "{output_size: 128, num_blocks: 6, attention_heads: 4}",
    )
    with pytest.raises(ValueError) as err:
        EmotionTask.build_model(args)
    message = str(err.value)
    assert "encoder_conf.output_size: 128 (emotion config) != 64 (ASR config)" in message
    assert "encoder_conf.attention_heads: 4 (emotion config) != 2 (ASR config)" in message
    assert "num_blocks" not in message

    args = init_args(tmp_path, exp.dir, "--encoder", "e_branchformer")
    with pytest.raises(ValueError, match="encoder: 'e_branchformer' \\(emotion config\\) != 'conformer'"):
        EmotionTask.build_model(args)


def test_ctc_only_exp_dir_gives_its_cer_average(tmp_path):
    """A CTC-only ESPnet exp has no accuracy checkpoints: the CTC-CER average is taken, not an epoch."""
    from espnet_qieemo.emo.asr_init import locate_asr_checkpoint

    (tmp_path / "config.yaml").write_text("encoder: conformer\nmodel_conf: {ctc_weight: 1.0}\n")
    for name in ("1epoch.pth", "2epoch.pth", "valid.cer_ctc.best.pth", "valid.cer_ctc.ave.pth"):
        (tmp_path / name).write_bytes(b"")
    ckpt = locate_asr_checkpoint(str(tmp_path), None, tmp_path / "unpacked")
    assert ckpt.model_file == tmp_path / "valid.cer_ctc.ave.pth"
