"""emo_train killed (SIGKILL) in the middle of its second epoch, then the same command again."""

import subprocess
import sys

import torch
import yaml
from resume_helpers import epoch_stats, run_and_kill
from test_emo_train import CONF, LABELS, train_cmd, write_subset

from espnet_qieemo.tasks.emotion import EmotionTask

EPOCHS = 2


def test_killed_emo_train_resumes_without_redoing_epochs(data_root, tmp_path):
    wav_dir = data_root / "emodb" / "wav"
    data = tmp_path / "data"
    write_subset(wav_dir, data / "train", 5, valid=False)  # 20 utterances: an epoch of 5 steps
    write_subset(wav_dir, data / "valid", 1, valid=True)
    (data / "labels").write_text("\n".join(LABELS) + "\n")
    config = yaml.safe_load((CONF / "train_emo_qieemo_scratch_small.yaml").read_text())
    config["encoder_conf"]["num_blocks"] = config["fusion_conf"]["num_blocks"] = 4
    config.update(batch_type="unsorted", batch_size=4, keep_nbest_models=1)
    (tmp_path / "conf.yaml").write_text(yaml.safe_dump(config))
    exp = tmp_path / "exp"
    cmd = [
        sys.executable,
        "-m",
        "espnet_qieemo.bin.emo_train",
        *train_cmd(data, exp, "--config", str(tmp_path / "conf.yaml"), "--max_epoch", str(EPOCHS), "--resume", "true"),
        "--log_interval",
        "1",
    ]
    first = tmp_path / "first.log"
    run_and_kill(cmd, first, watch=first, marker="2epoch:train:1-1batch", settle=0)  # after step 1 of 5
    assert not (exp / "2epoch.pth").exists(), "killed too late: epoch 2 had finished"
    before = epoch_stats(exp)
    assert sorted(before) == [1]

    second = tmp_path / "second.log"
    with open(second, "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    text = second.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert "The training was resumed using" in text
    assert f"1/{EPOCHS}epoch started" not in text and f"2/{EPOCHS}epoch started" in text  # epoch 1 not redone
    after = epoch_stats(exp)
    assert sorted(after) == list(range(1, EPOCHS + 1))
    assert after[1] == before[1]  # epoch 1's record kept as it was
    model, _ = EmotionTask.build_model_from_file(exp / "config.yaml", exp / "valid.ua.best.pth", "cpu")
    model.eval()
    with torch.no_grad():
        logits = model.classify(torch.randn(1, 16000), torch.tensor([16000]))
    assert logits.shape == (1, len(LABELS)) and torch.isfinite(logits).all()
