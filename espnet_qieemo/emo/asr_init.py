"""Start an emotion model from an ESPnet ASR experiment (paper II.D, stage 2).

The source is an experiment directory (``config.yaml`` + a ``.pth``), a ``config.yaml``
(with ``--asr_model_file`` or a ``.pth`` beside it), the archive written by
``espnet2.bin.pack asr`` (unpacked by ``utils.safe_unpack``, which refuses hostile ones) or
that archive unpacked (a model-hub folder, ``meta.yaml`` at its root). Its frontend,
normalisation and encoder configs are copied into the emotion config, so the shapes match and
the emotion experiment's ``config.yaml`` is complete without the ASR files; the weights, read
as data only, are then copied into the emotion model.
"""

import inspect
import logging
import shutil
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
import yaml

from espnet_qieemo.utils.safe_unpack import is_archive, is_model_folder, model_files
from espnet_qieemo.utils.weights import read_state_dict

# The parts of the ASR model the emotion model reuses (module names are the same in both).
BACKBONE = ("frontend", "normalize", "encoder")
ASR_HEADS = ("ctc", "decoder")
MODEL_FILE_PREFERENCE = (  # ESPnet's names; CTC-only models have no accuracy, only CTC CER
    "valid.acc.ave.pth",
    "valid.acc.best.pth",
    "valid.cer_ctc.ave.pth",
    "valid.cer_ctc.best.pth",
    "valid.loss.best.pth",
    "latest.pth",
)
STATS_NAME = "asr_feats_stats.npz"


@dataclass
class AsrCheckpoint:
    config: Dict[str, Any]
    config_file: Path
    model_file: Path


def locate_asr_checkpoint(asr_init: str, asr_model_file: Optional[str], unpack_dir: Path) -> AsrCheckpoint:
    """Find the ASR config and weights for ``--asr_init``: exp dir, config.yaml, packed archive
    (unpacked into ``unpack_dir``) or model-hub folder (its config rewritten into ``unpack_dir``)."""
    source = Path(asr_init)
    if is_archive(source) or is_model_folder(source):
        files = model_files(source, unpack_dir)
        if "asr_train_config" not in files or "asr_model_file" not in files:
            raise ValueError(
                f"--asr_init {source}: its meta.yaml names {sorted(files)}, expected the "
                "'asr_train_config' and 'asr_model_file' written by `espnet2.bin.pack asr`"
            )
        config_file = Path(files["asr_train_config"])
        asr_model_file = asr_model_file or files["asr_model_file"]
    elif source.is_dir():
        config_file = source / "config.yaml"
    elif source.is_file():
        config_file = source
    else:
        raise FileNotFoundError(f"--asr_init {source}: no such directory, config.yaml or model archive")
    if not config_file.is_file():
        raise FileNotFoundError(f"--asr_init {source}: {config_file} not found")
    with config_file.open(encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict) or "encoder" not in config:
        raise ValueError(f"--asr_init {source}: {config_file} is not an ESPnet ASR config.yaml")
    model_file = Path(asr_model_file) if asr_model_file else _model_file_in(config_file.parent)
    if not model_file.is_file():
        raise FileNotFoundError(f"--asr_model_file {model_file}: not found")
    return AsrCheckpoint(config, config_file, model_file)


def _model_file_in(exp_dir: Path) -> Path:
    for name in MODEL_FILE_PREFERENCE:
        if (exp_dir / name).exists():
            return exp_dir / name
    candidates = sorted(p for p in exp_dir.glob("*.pth") if p.name != "checkpoint.pth")
    if len(candidates) != 1:
        raise FileNotFoundError(
            f"{exp_dir}: cannot choose the ASR model file among {[p.name for p in candidates]}"
            f"; pass --asr_model_file (looked for {list(MODEL_FILE_PREFERENCE)})"
        )
    return candidates[0]


def _default_of(cls: Optional[type], key: str) -> Any:
    if cls is None:
        return inspect.Parameter.empty
    param = inspect.signature(cls.__init__).parameters.get(key)
    return inspect.Parameter.empty if param is None else param.default


def config_mismatches(args: Namespace, asr_config: Dict[str, Any], classes: Dict[str, Dict[str, type]]) -> List[str]:
    """Keys the emotion config sets to something other than the ASR config.

    Only what the emotion config states is compared: a type left unset (None) or a conf
    key left out is taken from the ASR config. A key the ASR config leaves out is compared
    with the class's default. ``normalize_conf.stats_file`` is not compared: the ASR's
    statistics always win, since the encoder was trained on them.
    """
    diffs = []
    for name in BACKBONE:
        emo_type, asr_type = getattr(args, name, None), asr_config.get(name)
        if emo_type is not None and emo_type != asr_type:
            diffs.append(f"{name}: {emo_type!r} (emotion config) != {asr_type!r} (ASR config)")
            continue
        asr_conf = asr_config.get(f"{name}_conf") or {}
        cls = classes[name].get(asr_type) if asr_type else None
        for key, value in sorted((getattr(args, f"{name}_conf", None) or {}).items()):
            if name == "normalize" and key == "stats_file":
                continue
            asr_value = asr_conf.get(key, _default_of(cls, key))
            if asr_value != value:
                shown = "<not an argument>" if asr_value is inspect.Parameter.empty else repr(asr_value)
                diffs.append(f"{name}_conf.{key}: {value!r} (emotion config) != {shown} (ASR config)")
    return diffs


def apply_asr_config(
    args: Namespace,
    ckpt: AsrCheckpoint,
    output_dir: Path,
    classes: Dict[str, Dict[str, type]],
    keep_heads: bool,
) -> None:
    """Write the ASR backbone's (and heads') config into ``args``, or fail on a mismatch."""
    diffs = config_mismatches(args, ckpt.config, classes)
    if diffs:
        raise ValueError(
            f"the emotion config disagrees with the ASR model {ckpt.config_file} it is "
            "initialised from (remove these from the emotion config, or fix them):\n  " + "\n  ".join(diffs)
        )
    for key in ("preencoder", "postencoder"):
        if ckpt.config.get(key) is not None:
            raise ValueError(f"{ckpt.config_file}: ASR models with a {key} are not supported")
    for name in BACKBONE:
        setattr(args, name, ckpt.config.get(name))
        setattr(args, f"{name}_conf", dict(ckpt.config.get(f"{name}_conf") or {}))
    args.input_size = ckpt.config.get("input_size")
    stats_file = args.normalize_conf.get("stats_file")
    if stats_file is not None:
        args.normalize_conf["stats_file"] = str(_copy_stats(ckpt.config_file, stats_file, output_dir))
    args.asr_heads = _asr_heads(ckpt) if keep_heads else None


def _copy_stats(config_file: Path, stats_file: str, output_dir: Path) -> Path:
    """Copy the ASR feature statistics into the emotion experiment, which then owns them.

    A relative path in an ESPnet config is relative to the recipe directory, which is two
    levels above ``exp/<asr_exp>/config.yaml``.
    """
    path = Path(stats_file)
    candidates = (
        [path] if path.is_absolute() else [path, config_file.parent.parent.parent / path, config_file.parent / path]
    )
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"{config_file}: normalize_conf.stats_file {stats_file} not found (tried {[str(p) for p in candidates]})"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / STATS_NAME
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(found, tmp)
    tmp.replace(target)
    return target


def _asr_heads(ckpt: AsrCheckpoint) -> Dict[str, Any]:
    token_list = ckpt.config.get("token_list")
    if not isinstance(token_list, list):
        raise ValueError(f"{ckpt.config_file}: token_list must be stored inline to keep the ASR heads")
    return dict(
        token_list=token_list,
        ctc_conf=dict(ckpt.config.get("ctc_conf") or {}),
        decoder=ckpt.config.get("decoder"),
        decoder_conf=dict(ckpt.config.get("decoder_conf") or {}),
    )


def load_asr_weights(model: torch.nn.Module, model_file: Path, prefixes: Sequence[str]) -> int:
    """Copy the ASR parameters under ``prefixes`` into ``model``; every one must be found."""
    state = read_state_dict(model_file)
    state = state.get("model", state)  # a trainer checkpoint.pth holds the model under "model"
    wanted = tuple(f"{p}." for p in prefixes)
    own = {k for k in model.state_dict() if k.startswith(wanted)}
    chosen = {k: v for k, v in state.items() if k.startswith(wanted)}
    missing, unexpected = sorted(own - set(chosen)), sorted(set(chosen) - own)
    if missing or unexpected:
        raise ValueError(
            f"{model_file} does not fit the emotion model's {list(prefixes)}: missing "
            f"{missing[:10]}{'...' if len(missing) > 10 else ''}, unexpected "
            f"{unexpected[:10]}{'...' if len(unexpected) > 10 else ''}"
        )
    model.load_state_dict(chosen, strict=False)
    logging.info(f"Initialised {len(chosen)} tensors of {list(prefixes)} from {model_file}")
    return len(chosen)
