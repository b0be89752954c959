"""An emotion model from its config: the construction EmotionTask and fast loading share.

EmotionTask looks classes up in ESPnet's ``ClassChoices``, and importing those registries
means importing ESPnet's whole ASR task and trainer: 8-15 s on a 2-core CPU, most of a
one-file ``qieemo predict``. A finished config (a trained or packed model) names only a
few classes, so ``load_emotion_model`` imports just those when they are common backbone
parts (``BACKBONE_MODULES``, checked against ESPnet's registries by a test) and hands
anything else to ``EmotionTask.build_model_from_file``. Either way the weights are read as
data only (``utils.weights``): ESPnet's loader is given the config alone, since it unpickles.
"""

import argparse
import importlib
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
import yaml

from espnet_qieemo.asr.encoder.block_outputs import encoder_blocks
from espnet_qieemo.emo.cma import CrossModalAttention
from espnet_qieemo.emo.espnet_model import ESPnetEmotionModel
from espnet_qieemo.emo.mmf import LastLayerFusion, MultiBlockFusion, WeightedSumFusion
from espnet_qieemo.emo.pooling import EmotionClassifier
from espnet_qieemo.utils.weights import read_state_dict

ClassLookup = Callable[[str, str], type]  # (choice group, name in YAML) -> class

FUSION_CLASSES = dict(mmf=MultiBlockFusion, last_layer=LastLayerFusion, weighted_sum=WeightedSumFusion)
ATTENTION_CLASSES = dict(cma=CrossModalAttention)
MODEL_CLASSES = dict(espnet=ESPnetEmotionModel)
OWN_CLASSES = dict(fusion=FUSION_CLASSES, attention=ATTENTION_CLASSES, model=MODEL_CLASSES)

BACKBONE_MODULES: Dict[str, Dict[str, str]] = {
    "frontend": {"default": "espnet2.asr.frontend.default:DefaultFrontend"},
    "specaug": {"specaug": "espnet2.asr.specaug.specaug:SpecAug"},
    "normalize": {
        "global_mvn": "espnet2.layers.global_mvn:GlobalMVN",
        "utterance_mvn": "espnet2.layers.utterance_mvn:UtteranceMVN",
    },
    "encoder": {
        "efficient_conformer": "espnet_qieemo.asr.encoder.efficient_conformer_encoder:EfficientConformerEncoder",
        "conformer": "espnet2.asr.encoder.conformer_encoder:ConformerEncoder",
        "transformer": "espnet2.asr.encoder.transformer_encoder:TransformerEncoder",
        "branchformer": "espnet2.asr.encoder.branchformer_encoder:BranchformerEncoder",
        "e_branchformer": "espnet2.asr.encoder.e_branchformer_encoder:EBranchformerEncoder",
    },
    "decoder": {"transformer": "espnet2.asr.decoder.transformer_decoder:TransformerDecoder"},
}


class NotInFastPath(LookupError):
    """The config names a class that only ESPnet's full registries know."""


def fast_lookup(group: str, name: str) -> type:
    if name in OWN_CLASSES.get(group, {}):
        return OWN_CLASSES[group][name]
    path = BACKBONE_MODULES.get(group, {}).get(name)
    if path is None:
        raise NotInFastPath(f"{group}: {name}")
    module, cls = path.split(":")
    return getattr(importlib.import_module(module), cls)


def build_emotion_model(args: argparse.Namespace, lookup: ClassLookup) -> ESPnetEmotionModel:
    """Frontend -> specaug -> normalize -> encoder -> fusion -> attention -> classifier, from args.

    ``args.labels`` must be resolved (a list); with ``input_size`` set the model takes features
    and ``args.frontend`` is cleared, so the saved config says so.
    """
    frontend, input_size = _build_frontend(args, lookup)
    specaug = _build_optional(lookup, "specaug", args.specaug, args.specaug_conf)
    normalize = _build_optional(lookup, "normalize", args.normalize, args.normalize_conf)
    if args.encoder is None:
        raise ValueError("no encoder: set `encoder:` in the config or give --asr_init")
    encoder = lookup("encoder", args.encoder)(input_size=input_size, **args.encoder_conf)
    fusion = lookup("fusion", args.fusion)(
        input_size=encoder.output_size(), num_encoder_blocks=len(encoder_blocks(encoder)), **args.fusion_conf
    )
    attention = None
    if args.attention is not None:
        attention = lookup("attention", args.attention)(
            query_size=fusion.output_size(), ppg_size=encoder.output_size(), **args.attention_conf
        )
    classifier = EmotionClassifier(
        input_size=(attention or fusion).output_size(), num_classes=len(args.labels), **args.classifier_conf
    )
    model = lookup("model", args.model)(
        labels=args.labels,
        frontend=frontend,
        specaug=specaug,
        normalize=normalize,
        encoder=encoder,
        fusion=fusion,
        attention=attention,
        classifier=classifier,
        **args.model_conf,
    )
    if args.asr_heads is not None:
        model.attach_asr_heads(*_build_asr_heads(lookup, args.asr_heads, encoder.output_size()))
    return model


def _build_frontend(args: argparse.Namespace, lookup: ClassLookup) -> Tuple[Optional[torch.nn.Module], int]:
    if args.input_size is not None:
        args.frontend, args.frontend_conf = None, {}
        return None, args.input_size
    if args.frontend is None:
        raise ValueError("no frontend: set `frontend:` (or `input_size:`) in the config, or give --asr_init")
    frontend = lookup("frontend", args.frontend)(**args.frontend_conf)
    return frontend, frontend.output_size()


def _build_optional(lookup: ClassLookup, group: str, name: Optional[str], conf: dict) -> Optional[torch.nn.Module]:
    return None if name is None else lookup(group, name)(**conf)


def _build_asr_heads(
    lookup: ClassLookup, heads: dict, encoder_size: int
) -> Tuple[torch.nn.Module, Optional[torch.nn.Module], List[str]]:
    from espnet2.asr.ctc import CTC

    token_list = list(heads["token_list"])
    ctc = CTC(odim=len(token_list), encoder_output_size=encoder_size, **heads["ctc_conf"])
    decoder = None
    if heads.get("decoder") is not None:
        decoder = lookup("decoder", heads["decoder"])(
            vocab_size=len(token_list), encoder_output_size=encoder_size, **heads["decoder_conf"]
        )
    return ctc, decoder, token_list


def _finished(args: argparse.Namespace) -> bool:
    """A trained model's config: labels inline, weights as numbers, nothing left to fetch."""
    weights = (getattr(args, "model_conf", None) or {}).get("class_weights")
    return (
        isinstance(getattr(args, "labels", None), list)
        and getattr(args, "label_list", None) is None
        and getattr(args, "asr_init", None) is None
        and not isinstance(weights, str)
    )


def _placeholder_mel(sr: float, n_fft: int, n_mels: int, **_) -> np.ndarray:
    return np.zeros((n_mels, n_fft // 2 + 1), dtype=np.float32)


@contextmanager
def mel_from_checkpoint() -> Iterator[None]:
    """ESPnet's LogMel saves its mel matrix as a buffer, so a model about to load its weights
    need not compute it: computing it means librosa.filters, whose scipy import is over a
    second of a cold start. The strict state-dict load then fills in the saved matrix."""
    from espnet2.layers import log_mel

    saved = log_mel.librosa
    log_mel.librosa = SimpleNamespace(filters=SimpleNamespace(mel=_placeholder_mel))
    try:
        yield
    finally:
        log_mel.librosa = saved


def load_emotion_model(
    config_file: Union[str, Path], model_file: Union[str, Path], device: str = "cpu"
) -> Tuple[ESPnetEmotionModel, argparse.Namespace]:
    """(model, train args) like ``EmotionTask.build_model_from_file``, importing only what it needs."""
    with open(config_file, encoding="utf-8") as f:
        args = argparse.Namespace(**yaml.safe_load(f))
    model = None
    if _finished(args):
        try:
            with mel_from_checkpoint():
                model = build_emotion_model(args, fast_lookup)
        except NotInFastPath:
            model = None
    if model is None:
        from espnet_qieemo.tasks.emotion import EmotionTask

        model, args = EmotionTask.build_model_from_file(config_file, None, device)
    model.load_state_dict(read_state_dict(model_file, device))
    return model.to(device), args
