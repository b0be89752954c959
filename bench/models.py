"""The three emotion classifiers the benchmark compares, at the sizes users would train.

- ``qieemo``: paper-size Qieemo, EfficientConformerEncoder 12 x 256 + MMF + CMA + head.
- ``backbone2``: the same emotion model on ESPnet's ConformerEncoder 12 x 256 (no
  progressive downsampling), the paper's backbone 2.
- ``wav2vec2``: torchaudio's ``wav2vec2_base`` architecture (about 95M parameters, the size
  of wav2vec 2.0 / HuBERT / emotion2vec base), mean pooling over valid frames, linear head.

The two Qieemo models are built by ``EmotionTask.build_model`` from the recipe's emotion
config, with the encoder taken from the recipe's paper-size ASR config, so the benchmark
measures what users train. All weights are untrained: only cost is measured.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Tuple

import torch
import yaml
from benchlib import REPO

from espnet_qieemo.utils.masks import valid_mask

CONF = REPO / "egs2" / "iemocap_qieemo" / "emo1" / "conf"
DEFAULT_LABELS = ("neu", "hap", "ang", "sad")
NUM_CLASSES = len(DEFAULT_LABELS)

# Recipe configs per backbone; frontend and encoder come from the paper-size ASR config,
# as ``--asr_init`` would give them.
EMOTION_CONFIGS = {
    "efficient_conformer": "train_emo_qieemo.yaml",
    "conformer": "train_emo_qieemo_conformer.yaml",
}
ASR_CONFIGS = {
    "efficient_conformer": "train_asr_efficient_conformer.yaml",
    "conformer": "train_asr_conformer.yaml",
}


@dataclass
class BenchModel:
    """A classifier with the two calls the benchmark times."""

    module: torch.nn.Module
    probs: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B, C) probabilities
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    source: str  # where the architecture came from, for the report


# ------------------------------------------------------------------ wav2vec 2.0
class Wav2Vec2Classifier(torch.nn.Module):
    """wav2vec 2.0 base-size encoder, mean pooling over valid frames, linear head."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        from torchaudio.models import wav2vec2_base

        self.encoder = wav2vec2_base()
        self.head = torch.nn.Linear(768, num_classes)

    def forward(self, speech: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feats, feat_lens = self.encoder(speech, lengths)
        valid = valid_mask(feat_lens, feats.size(1)).unsqueeze(-1).to(feats.dtype)
        pooled = (feats * valid).sum(1) / valid.sum(1).clamp(min=1.0)
        return self.head(pooled)


def build_wav2vec2() -> BenchModel:
    model = Wav2Vec2Classifier()
    return BenchModel(
        module=model,
        probs=lambda s, n: model(s, n).softmax(-1),
        loss=lambda s, n, y: torch.nn.functional.cross_entropy(model(s, n), y),
        source="torchaudio.models.wav2vec2_base + mean pooling + Linear(768, 4)",
    )


# ------------------------------------------------------------------ Qieemo (ESPnet)
def recipe_config(name: str) -> Path:
    path = CONF / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the benchmark builds its models from the recipe configs")
    return path


def load_yaml(path: Path) -> Dict:
    with open(path) as f:
        conf = yaml.safe_load(f)
    if not isinstance(conf, dict):
        raise ValueError(f"{path}: expected a YAML mapping of training options")
    return conf


def backbone_config(encoder: str) -> Tuple[Dict, str]:
    """Frontend + encoder options from the recipe's paper-size ASR config."""
    path = recipe_config(ASR_CONFIGS[encoder])
    conf = load_yaml(path)
    if conf.get("encoder") != encoder:
        raise ValueError(f"{path}: expected `encoder: {encoder}`, found {conf.get('encoder')!r}")
    keys = ("frontend", "frontend_conf", "encoder", "encoder_conf")
    return {k: conf[k] for k in keys if k in conf}, f"encoder of {path.name}"


def emotion_args(encoder: str) -> Tuple[argparse.Namespace, str]:
    """Emotion-task options: the recipe's emotion config on a paper-size ``encoder``.

    Initialisation from an ASR checkpoint is dropped (cost does not depend on weights),
    and so is global MVN (its statistics file comes from a recipe run). The encoder is
    never frozen, so a training step measures full fine-tuning.
    """
    with _offline():
        from espnet_qieemo.tasks.emotion import EmotionTask

    emo_path = recipe_config(EMOTION_CONFIGS[encoder])
    args = EmotionTask.get_parser().parse_args(["--config", str(emo_path)])
    if args.encoder not in (None, encoder):
        raise ValueError(f"{emo_path}: expected `encoder: {encoder}`, found {args.encoder!r}")
    backbone, backbone_source = backbone_config(encoder)
    for key, value in backbone.items():
        setattr(args, key, value)
    args.normalize, args.normalize_conf = None, {}
    args.asr_init = args.asr_model_file = None
    args.keep_asr_heads, args.asr_heads = False, None
    args.model_conf = dict(args.model_conf, freeze_encoder_steps=0)
    if args.labels is None and args.label_list is None:
        args.labels = list(DEFAULT_LABELS)
    return args, f"EmotionTask.build_model: {emo_path.name}, {backbone_source}"


def build_qieemo(encoder: str) -> BenchModel:
    with _offline():
        from espnet_qieemo.tasks.emotion import EmotionTask

    args, source = emotion_args(encoder)
    model = EmotionTask.build_model(args)
    return BenchModel(
        module=model,
        probs=lambda s, n: model.classify(s, n).softmax(-1),
        loss=lambda s, n, y: model(s, n, y)[0],
        source=source,
    )


def _offline():
    from espnet_qieemo._offline import no_nltk_downloads

    return no_nltk_downloads()


MODELS: Dict[str, Callable[[], BenchModel]] = {
    "qieemo": lambda: build_qieemo("efficient_conformer"),
    "backbone2": lambda: build_qieemo("conformer"),
    "wav2vec2": build_wav2vec2,
}
LABELS = {
    "qieemo": "Qieemo (efficient conformer 12x256 + MMF + CMA)",
    "backbone2": "Backbone 2 (ESPnet conformer 12x256 + MMF + CMA)",
    "wav2vec2": "wav2vec 2.0 base-size + mean pool + linear",
}
REFERENCE = "wav2vec2"


def build_model(name: str) -> BenchModel:
    if name not in MODELS:
        raise ValueError(f"unknown bench model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]()
