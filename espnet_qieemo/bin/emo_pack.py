"""Pack an emotion model (config, model file, statistics) into one zip.

ESPnet's ``pack`` stores files under the names they had relative to the current
directory and only rewrites config values that match those names exactly, so a config
holding absolute paths would still point at the training machine. Here every file is
first staged under ``exp/emo/`` and the config rewritten to the staged names, so the
zip unpacks anywhere (``Speech2Emotion.from_pretrained`` does that). The zip is put in place
only once it passes the checks every loader makes (``utils.safe_unpack``).
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml
from espnet2.main_funcs.pack_funcs import pack

from espnet_qieemo.emo.calibration import read_temperature
from espnet_qieemo.utils.safe_unpack import check_model, map_strings

STAGE = Path("exp") / "emo"
STAGED_CONFIG = STAGE / "config.yaml"
# Config entries that name files the model needs at build time.
REFERENCED_KEYS = (("normalize_conf", "stats_file"), ("bpemodel",))


def referenced_files(config: dict) -> List[Path]:
    """Files the config names (normalisation statistics, BPE model) that exist here."""
    found = []
    for keys in REFERENCED_KEYS:
        value = config
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and Path(value).is_file():
            found.append(Path(value))
    return found


def _staged_name(value: str, renames: Dict[Path, str]) -> str:
    """The staged name of the file a config string names, if it is one of ``renames`` (resolved)."""
    return renames.get(Path(value).resolve(), value) if value else value


def _stage_names(files: Sequence[Path]) -> Dict[Path, str]:
    """Staged name for each file: its basename, prefixed with an index on a clash."""
    names: Dict[Path, str] = {}
    for i, f in enumerate(files):
        taken = {STAGED_CONFIG.name, *(Path(n).name for n in names.values())}
        name = f.name if f.name not in taken else f"{i}_{f.name}"
        names.setdefault(f.resolve(), str(STAGE / name))
    return names


def pack_emotion_model(
    train_config: Path,
    model_file: Path,
    outpath: Path,
    options: Sequence[Path] = (),
    calibration: Optional[Path] = None,
) -> Path:
    """Write the zip atomically and return its path. ``calibration``: a ``calibration.yaml`` of
    ``emo_calibrate``, stored as the model's ``calibration`` file (its temperature is applied on
    loading)."""
    for f in (train_config, model_file, *options, *([calibration] if calibration else [])):
        if not Path(f).is_file():
            raise FileNotFoundError(f"emo_pack: no such file: {f}")
    # Resolved before the chdir below: relative paths and best-model symlinks stay valid.
    train_config, model_file, outpath = (Path(p).resolve() for p in (train_config, model_file, outpath))
    stored = {"model_file": model_file}
    if calibration is not None:
        read_temperature(calibration)  # a bad file is refused now, not when the model is loaded
        stored["calibration"] = Path(calibration).resolve()
    with open(train_config, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict):
        raise ValueError(f"emo_pack: {train_config} is not a YAML mapping (expected an ESPnet config.yaml)")
    extra = list(dict.fromkeys(Path(o).resolve() for o in [*options, *referenced_files(config)]))
    renames = _stage_names([*stored.values(), *extra])
    with tempfile.TemporaryDirectory(dir=outpath.parent) as stage:
        stage = Path(stage)
        for src, name in renames.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, stage / name)
        with open(stage / STAGED_CONFIG, "w", encoding="utf-8") as f:
            yaml.safe_dump(map_strings(config, lambda s: _staged_name(s, renames)), f, sort_keys=False)
        tmp_zip = stage / "packed.zip"
        cwd = os.getcwd()
        os.chdir(stage)  # pack() names archive members relative to the current directory
        try:
            pack(
                files={key: renames[path] for key, path in stored.items()},
                yaml_files={"train_config": str(STAGED_CONFIG)},
                option=[renames[o] for o in extra],
                outpath=str(tmp_zip),
            )
        finally:
            os.chdir(cwd)
        check_model(tmp_zip)
        os.replace(tmp_zip, outpath)
    return outpath


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_config", type=Path, required=True, help="config.yaml of emo_train")
    parser.add_argument("--model_file", type=Path, required=True, help="e.g. valid.acc.best.pth")
    parser.add_argument(
        "--option",
        type=Path,
        action="append",
        default=[],
        help="extra file to include (repeatable); the config's stats_file/bpemodel are added anyway",
    )
    parser.add_argument(
        "--calibration", type=Path, help="calibration.yaml of emo_calibrate: its temperature applies on loading"
    )
    parser.add_argument("--outpath", type=Path, required=True, help="output .zip")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    try:
        out = pack_emotion_model(args.train_config, args.model_file, args.outpath, args.option, args.calibration)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    print(f"Packed: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
