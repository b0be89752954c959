"""EmotionTask: ESPnet task for Qieemo emotion recognition on a (pretrained) ASR encoder.

Everything is picked in YAML through ESPnet's ``ClassChoices``: the frontend, specaug,
normalisation and encoder are the ASR task's own classes (plus ``efficient_conformer``), so
any ESPnet ASR backbone can be swapped in without code changes; ``fusion`` and
``attention`` select the paper's MMF/CMA or their ablations.
"""

import argparse
import logging
from pathlib import Path
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
from typeguard import typechecked

import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer)
from espnet_qieemo._offline import no_nltk_downloads

with no_nltk_downloads():
    from espnet2.asr.encoder.abs_encoder import AbsEncoder
    from espnet2.asr.frontend.abs_frontend import AbsFrontend
    from espnet2.asr.specaug.abs_specaug import AbsSpecAug
    from espnet2.layers.abs_normalize import AbsNormalize
    from espnet2.tasks import asr as asr_task
    from espnet2.tasks.abs_task import AbsTask, optim_classes
    from espnet2.torch_utils.initialize import initialize
    from espnet2.train.class_choices import ClassChoices
    from espnet2.train.collate_fn import CommonCollateFn
    from espnet2.utils.nested_dict_action import NestedDictAction
    from espnet2.utils.types import int_or_none, str2bool, str_or_none

from espnet_qieemo.emo.asr_init import (
    ASR_HEADS,
    BACKBONE,
    apply_asr_config,
    load_asr_weights,
    locate_asr_checkpoint,
)
from espnet_qieemo.emo.espnet_model import ESPnetEmotionModel
from espnet_qieemo.emo.mmf import AbsFusion
from espnet_qieemo.emo.preprocessor import (
    EmotionPreprocessor,
    SpeechAugmentation,
    balanced_class_weights,
    check_labels,
    read_label_list,
)
from espnet_qieemo.emo.trainer import EmotionTrainer
from espnet_qieemo.tasks.emotion_builder import (
    ATTENTION_CLASSES,
    FUSION_CLASSES,
    MODEL_CLASSES,
    build_emotion_model,
)

# Frontend, normalize and encoder default to None: "take it from --asr_init".
frontend_choices = ClassChoices(
    "frontend", classes=asr_task.frontend_choices.classes, type_check=AbsFrontend, default=None
)
specaug_choices = ClassChoices("specaug", classes=asr_task.specaug_choices.classes, type_check=AbsSpecAug, default=None)
normalize_choices = ClassChoices(
    "normalize", classes=asr_task.normalize_choices.classes, type_check=AbsNormalize, default=None
)
encoder_choices = ClassChoices("encoder", classes=asr_task.encoder_choices.classes, type_check=AbsEncoder, default=None)
fusion_choices = ClassChoices(
    "fusion",
    classes=FUSION_CLASSES,
    type_check=AbsFusion,
    default="mmf",
)
attention_choices = ClassChoices("attention", classes=ATTENTION_CLASSES, default="cma", optional=True)
model_choices = ClassChoices("model", classes=MODEL_CLASSES, type_check=ESPnetEmotionModel, default="espnet")
BACKBONE_CHOICES = {"frontend": frontend_choices, "normalize": normalize_choices, "encoder": encoder_choices}
TASK_CHOICES = [
    frontend_choices,
    specaug_choices,
    normalize_choices,
    encoder_choices,
    fusion_choices,
    attention_choices,
    model_choices,
]
CHOICES = {c.name: c for c in (*TASK_CHOICES, asr_task.decoder_choices)}


def registry_lookup(group: str, name: str) -> type:
    """A class by its YAML name from the task's ``ClassChoices`` (the ASR task's for ``decoder``)."""
    return CHOICES[group].get_class(name)


def resolve_labels(args: argparse.Namespace) -> List[str]:
    """The class list from ``--label_list`` (file) or ``labels`` (YAML), stored inline in args."""
    label_list = getattr(args, "label_list", None)
    labels = getattr(args, "labels", None)
    if label_list is not None:
        from_file = read_label_list(label_list)
        if labels is not None and list(labels) != from_file:
            raise ValueError(f"--label_list {label_list} {from_file} disagrees with labels {labels}")
        labels = from_file
    if labels is None:
        raise ValueError("the emotion classes are unset: give --label_list <file> or `labels:` in the config")
    args.labels, args.label_list = check_labels(labels, source="labels"), None
    return args.labels


def build_augmentation(args: argparse.Namespace) -> Optional[SpeechAugmentation]:
    """The training data's ``SpeechAugmentation`` from the augmentation options; None when all are off."""
    conf = dict(getattr(args, "preprocessor_conf", None) or {})
    if not (args.rir_scp or args.noise_scp or conf.get("data_aug_effects") or args.gain_db_range):
        return None
    fs = (getattr(args, "frontend_conf", None) or {}).get("fs", 16000)
    if isinstance(fs, str):
        import humanfriendly

        fs = humanfriendly.parse_size(fs)
    room_options = dict(
        rir_scp=args.rir_scp,
        rir_apply_prob=args.rir_apply_prob,
        noise_scp=args.noise_scp,
        noise_apply_prob=args.noise_apply_prob,
        noise_db_range=args.noise_db_range,
        short_noise_thres=args.short_noise_thres,
    )
    return SpeechAugmentation(
        fs=int(fs), gain_db_range=args.gain_db_range, gain_apply_prob=args.gain_apply_prob, **room_options, **conf
    )


def resolve_class_weights(args: argparse.Namespace, labels: List[str]) -> None:
    """``model_conf.class_weights: balanced`` -> numbers from the training data's label counts.

    The numbers are written back into ``args``, so config.yaml records the weights the model
    was trained with and loading it later needs no training data.
    """
    if args.model_conf.get("class_weights") != "balanced":
        return
    files = [
        path for path, name, _ in (getattr(args, "train_data_path_and_name_and_type", None) or []) if name == "emotion"
    ]
    if not files:  # a model built outside training (inspection, export): no counts, no weights
        logging.warning(
            "model_conf.class_weights: balanced without training data "
            "(--train_data_path_and_name_and_type <dir>/emotion,emotion,text): unweighted loss"
        )
        args.model_conf["class_weights"] = None
        return
    args.model_conf["class_weights"] = balanced_class_weights(files[0], labels)
    logging.info(f"class_weights from {files[0]}: {dict(zip(labels, args.model_conf['class_weights']))}")


class EmotionTask(AbsTask):
    num_optimizers: int = 1
    class_choices_list = TASK_CHOICES
    trainer = EmotionTrainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        group.add_argument(
            "--label_list",
            type=str_or_none,
            default=None,
            help="File with one emotion label per line; fixes the class order",
        )
        group.add_argument(
            "--labels", type=str, nargs="+", default=None, help="The emotion labels inline (filled from --label_list)"
        )
        group.add_argument(
            "--asr_init",
            type=str_or_none,
            default=None,
            help="ESPnet ASR exp dir, its config.yaml, an espnet2.bin.pack archive or that archive "
            "unpacked (meta.yaml at its root): frontend, normalisation and encoder (config and weights) come from it",
        )
        group.add_argument(
            "--asr_model_file",
            type=str_or_none,
            default=None,
            help="The .pth to use with --asr_init (default: chosen in the exp dir)",
        )
        group.add_argument(
            "--keep_asr_heads",
            type=str2bool,
            default=False,
            help="Also copy the ASR CTC + decoder (frozen) for transcripts",
        )
        group.add_argument(
            "--asr_heads",
            action=NestedDictAction,
            default=None,
            help="Config of the kept ASR heads (filled by --keep_asr_heads)",
        )
        group.add_argument(
            "--input_size",
            type=int_or_none,
            default=None,
            help="Feature dimension when the data loader gives features (no frontend)",
        )
        group.add_argument(
            "--encoder_lr_scale",
            type=float,
            default=1.0,
            help="Learning rate of the frontend/encoder relative to the new modules",
        )
        group.add_argument(
            "--classifier_conf",
            action=NestedDictAction,
            default=dict(),
            help="Keyword arguments of the classifier head (hidden_size, dropout_rate)",
        )
        group.add_argument(
            "--init",
            type=lambda x: str_or_none(x.lower()),
            default=None,
            help="Initialisation of the model before --asr_init weights are copied",
            choices=["chainer", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", None],
        )
        group = parser.add_argument_group(description="Preprocess related")
        group.add_argument("--use_preprocessor", type=str2bool, default=True, help="Map emotion label names to indices")
        # Training-time augmentation: ESPnet ASR's own options, same names and meaning.
        group.add_argument("--rir_scp", type=str_or_none, default=None, help="Impulse responses to convolve with")
        group.add_argument("--rir_apply_prob", type=float, default=1.0, help="Probability of reverberation")
        group.add_argument("--noise_scp", type=str_or_none, default=None, help="Noises to add")
        group.add_argument("--noise_apply_prob", type=float, default=1.0, help="Probability of adding noise")
        group.add_argument("--noise_db_range", type=str, default="13_15", help="SNR range of added noise, dB")
        group.add_argument(
            "--short_noise_thres", type=float, default=0.5, help="Warn when noise / speech length is below this"
        )
        group.add_argument(
            "--preprocessor_conf",
            action=NestedDictAction,
            default=dict(),
            help="More CommonPreprocessor options, e.g. data_aug_effects (speed_perturb, bandwidth_limitation, ...), "
            "data_aug_num, data_aug_prob",
        )
        group.add_argument(
            "--gain_db_range", type=str_or_none, default=None, help="Random gain range, dB ('-10_6'; none: off)"
        )
        group.add_argument("--gain_apply_prob", type=float, default=1.0, help="Probability of the random gain")
        for class_choices in cls.class_choices_list:
            class_choices.add_arguments(group)

    @classmethod
    @typechecked
    def build_collate_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Callable[
        [Collection[Tuple[str, Dict[str, np.ndarray]]]],
        Tuple[List[str], Dict[str, torch.Tensor]],
    ]:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1)

    @classmethod
    @typechecked
    def build_preprocess_fn(
        cls, args: argparse.Namespace, train: bool
    ) -> Optional[Callable[[str, Dict[str, np.array]], Dict[str, np.ndarray]]]:
        if not args.use_preprocessor:
            return None
        augmentation = build_augmentation(args) if train else None
        return EmotionPreprocessor(resolve_labels(args), augmentation=augmentation)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",) if inference else ("speech", "emotion")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ()

    @classmethod
    @typechecked
    def build_model(cls, args: argparse.Namespace) -> ESPnetEmotionModel:
        labels = resolve_labels(args)
        resolve_class_weights(args, labels)
        ckpt = None
        if args.asr_init is not None:
            ckpt = locate_asr_checkpoint(args.asr_init, args.asr_model_file, Path(args.output_dir) / "asr_init")
            classes = {name: choices.classes for name, choices in BACKBONE_CHOICES.items()}
            apply_asr_config(args, ckpt, Path(args.output_dir), classes, args.keep_asr_heads)
            logging.info(f"Backbone config taken from {ckpt.config_file}")
            # The config.yaml written next is complete: loading it must not need the ASR files.
            args.asr_init = args.asr_model_file = None
        elif args.keep_asr_heads and args.asr_heads is None:
            raise ValueError("--keep_asr_heads true needs --asr_init (the heads come from the ASR model)")

        model = build_emotion_model(args, registry_lookup)
        if args.init is not None:
            initialize(model, args.init)
        if ckpt is not None:
            parts = [p for p in BACKBONE + ASR_HEADS if getattr(model, p) is not None]
            load_asr_weights(model, ckpt.model_file, parts)
        if model.freeze_encoder_steps > 0 and not getattr(args, "unused_parameters", True):
            # While frozen, the encoder gets no gradient: DDP must be told (ESPnet builds the
            # DDP wrapper from this option after build_model); a no-op without DDP.
            logging.info("freeze_encoder_steps > 0: --unused_parameters true (DDP: encoder unused while frozen)")
            args.unused_parameters = True
        return model

    @classmethod
    def build_optimizers(cls, args: argparse.Namespace, model: torch.nn.Module) -> List[torch.optim.Optimizer]:
        """One optimizer; the pretrained frontend/encoder get ``lr * encoder_lr_scale``."""
        if args.encoder_lr_scale == 1.0:
            return super().build_optimizers(args, model)
        optim_class = optim_classes.get(args.optim)
        if optim_class is None:
            raise ValueError(f"must be one of {list(optim_classes)}: {args.optim}")
        lr = args.optim_conf.get("lr")
        if lr is None:
            raise ValueError("--encoder_lr_scale needs an explicit optim_conf.lr")
        backbone = tuple(f"{p}." for p in BACKBONE)
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trainable if n.startswith(backbone)], "lr": lr * args.encoder_lr_scale},
            {"params": [p for n, p in trainable if not n.startswith(backbone)], "lr": lr},
        ]
        return [optim_class([g for g in groups if g["params"]], **args.optim_conf)]
