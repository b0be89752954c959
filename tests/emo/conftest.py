"""Fixtures for the emotion-model tests: real EmoDB audio and small emotion models."""

from typing import Callable, List, Tuple

import pytest
import torch
from emo_helpers import SMALL_EC

from espnet_qieemo.tasks.emotion import EmotionTask
from espnet_qieemo.utils import audio


@pytest.fixture(scope="session")
def emodb_waves(data_root) -> List[Tuple[str, torch.Tensor]]:
    """Three real utterances, cut to different lengths so a batch needs padding."""
    names = ["03a01Fa", "08a01Na", "10a01Wa"]
    cuts = [20000, 14000, 9000]
    # EmoDB is 22.05 kHz; the models, like the recipes' data prep, work at 16 kHz
    waves = [audio.load(data_root / "emodb" / "wav" / f"{n}.wav") for n in names]
    return [(n, torch.from_numpy(w[:c]).float()) for n, w, c in zip(names, waves, cuts)]


@pytest.fixture
def build_model(tmp_path) -> Callable[..., torch.nn.Module]:
    """Small Qieemo model from command-line style options, as EmotionTask.build_model sees them."""

    def build(*options: str, encoder: str = "efficient_conformer", encoder_conf: str = SMALL_EC):
        argv = [
            "--labels",
            "N",
            "F",
            "W",
            "T",
            "--frontend",
            "default",
            "--normalize",
            "utterance_mvn",
            "--encoder",
            encoder,
            "--encoder_conf",
            encoder_conf,
            "--fusion_conf",
            "output_size=32",
            "--attention_conf",
            "attention_dim=32",
            "--classifier_conf",
            "hidden_size=32",
            "--output_dir",
            str(tmp_path),
            *options,
        ]
        torch.manual_seed(0)
        return EmotionTask.build_model(EmotionTask.get_parser().parse_args(argv))

    return build
