"""Fixtures for the emotion-model tests: real EmoDB audio and small emotion models."""
from pathlib import Path
from typing import Callable, List, Tuple

import pytest
import soundfile
import torch
import torchaudio

from espnet_qieemo.tasks.emotion import EmotionTask

SMALL_EC = (
    "{output_size: 64, attention_heads: 2, linear_units: 128, num_blocks: 6, "
    "stride_layer_idx: [1], stride: [2], group_layer_idx: [0, 1], group_size: 3}"
)


def read_16k(path: Path) -> torch.Tensor:
    """EmoDB is 22.05 kHz; the models (like the recipes' data prep) work at 16 kHz."""
    wave, rate = soundfile.read(str(path), dtype="float32")
    return torchaudio.functional.resample(torch.from_numpy(wave), rate, 16000)


@pytest.fixture(scope="session")
def emodb_waves(data_root) -> List[Tuple[str, torch.Tensor]]:
    """Three real utterances, cut to different lengths so a batch needs padding."""
    names = ["03a01Fa", "08a01Na", "10a01Wa"]
    cuts = [20000, 14000, 9000]
    return [(n, read_16k(data_root / "emodb" / "wav" / f"{n}.wav")[:c]) for n, c in zip(names, cuts)]


def pad_batch(waves: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    lens = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lens.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    return batch, lens


@pytest.fixture
def build_model(tmp_path) -> Callable[..., torch.nn.Module]:
    """Small Qieemo model from command-line style options, as EmotionTask.build_model sees them."""

    def build(*options: str, encoder: str = "efficient_conformer", encoder_conf: str = SMALL_EC):
        argv = ["--labels", "N", "F", "W", "T", "--frontend", "default", "--normalize", "utterance_mvn",
                "--encoder", encoder, "--encoder_conf", encoder_conf,
                "--fusion_conf", "output_size=32", "--attention_conf", "attention_dim=32",
                "--classifier_conf", "hidden_size=32", "--output_dir", str(tmp_path), *options]
        torch.manual_seed(0)
        return EmotionTask.build_model(EmotionTask.get_parser().parse_args(argv))

    return build
