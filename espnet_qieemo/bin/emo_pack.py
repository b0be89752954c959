"""Pack an emotion model (config, model file, statistics) into one zip.

ESPnet's ``pack`` stores files under the names they had relative to the current
directory and only rewrites config values that match those names exactly, so a config
holding absolute paths would still point at the training machine. Here every file is
first staged under ``exp/emo/`` and the config rewritten to the staged names, so the
zip unpacks anywhere (``Speech2Emotion.from_pretrained`` does that).
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

STAGE = Path("exp") / "emo"
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


def _rewrite_paths(value, renames: Dict[Path, str]):
    """Replace every config string naming one of ``renames`` (resolved) by its staged name."""
    if isinstance(value, dict):
        return {k: _rewrite_paths(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_paths(v, renames) for v in value]
    if isinstance(value, str) and value and Path(value).resolve() in renames:
        return renames[Path(value).resolve()]
    return value


def _stage_names(files: Sequence[Path]) -> Dict[Path, str]:
    """Staged name for each file: its basename, prefixed with an index on a clash."""
    names: Dict[Path, str] = {}
    for i, f in enumerate(files):
        name = f.name if f.name not in {Path(n).name for n in names.values()} else f"{i}_{f.name}"
        names.setdefault(f.resolve(), str(STAGE / name))
    return names


def pack_emotion_model(train_config: Path, model_file: Path, outpath: Path, options: Sequence[Path] = ()) -> Path:
    """Write the zip atomically and return its path."""
    for f in (train_config, model_file, *options):
        if not Path(f).is_file():
            raise FileNotFoundError(f"emo_pack: no such file: {f}")
    # Resolved before the chdir below: relative paths and best-model symlinks stay valid.
    train_config, model_file, outpath = (Path(p).resolve() for p in (train_config, model_file, outpath))
    with open(train_config, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict):
        raise ValueError(f"emo_pack: {train_config} is not a YAML mapping (expected an ESPnet config.yaml)")
    extra = list(dict.fromkeys(Path(o).resolve() for o in [*options, *referenced_files(config)]))
    renames = _stage_names([model_file, *extra])
    with tempfile.TemporaryDirectory(dir=outpath.parent) as stage:
        stage = Path(stage)
        for src, name in renames.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, stage / name)
        staged_config = STAGE / "config.yaml"
        with open(stage / staged_config, "w", encoding="utf-8") as f:
            yaml.safe_dump(_rewrite_paths(config, renames), f, sort_keys=False)
        tmp_zip = stage / "packed.zip"
        cwd = os.getcwd()
        os.chdir(stage)  # pack() names archive members relative to the current directory
        try:
            pack(
                files={"model_file": renames[model_file.resolve()]},
                yaml_files={"train_config": str(staged_config)},
                option=[renames[o] for o in extra],
                outpath=str(tmp_zip),
            )
        finally:
            os.chdir(cwd)
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
    parser.add_argument("--outpath", type=Path, required=True, help="output .zip")
    return parser


def main(cmd: Optional[Sequence[str]] = None) -> None:
    args = get_parser().parse_args(cmd)
    try:
        out = pack_emotion_model(args.train_config, args.model_file, args.outpath, args.option)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(str(err))
    print(f"Packed: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
