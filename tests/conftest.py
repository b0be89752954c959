"""Shared fixtures: the corpora on disk, small ASR experiments trained by ESPnet's trainer, the `cuda` marker."""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

if TYPE_CHECKING:
    import torch

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "egs2" / "iemocap_qieemo" / "emo1" / "conf"
SMALL_ASR_CONFIGS = {
    "efficient_conformer": CONF / "train_asr_efficient_conformer_small.yaml",
    "conformer": CONF / "train_asr_conformer_small.yaml",
}


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA device; deselected where torch sees none (make gpu-check)")


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect ``cuda`` tests where no GPU is, so `make test` and CI pass without one."""
    cuda = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda:
        return
    import torch  # imported here, so collecting tests that need no torch stays fast

    if not torch.cuda.is_available():
        config.hook.pytest_deselected(items=cuda)
        items[:] = [item for item in items if not item.get_closest_marker("cuda")]


@pytest.fixture
def cuda_fp32() -> Iterator["torch.device"]:
    """The CUDA device with TF32 off, so that its fp32 results match the CPU's up to rounding."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield torch.device("cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def corpora_root() -> Path:
    return Path(os.environ.get("QIEEMO_DATA", REPO.parent / "shared" / "data")).resolve()


CORPORA = ("emodb", "speechocean762", "librispeech_mini", "mini_an4", "fsdd", "ravdess", "tess")


def missing_corpus(reason: str) -> None:
    """Skip with ``reason``, or fail where ``QIEEMO_REQUIRE_DATA=1`` (CI: nothing may skip)."""
    if os.environ.get("QIEEMO_REQUIRE_DATA") == "1":
        pytest.fail(f"QIEEMO_REQUIRE_DATA=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The corpora (`$QIEEMO_DATA`, default ../shared/data); tests needing them skip without."""
    root = corpora_root()
    missing = [c for c in CORPORA if not (root / c).is_dir()]
    if missing:
        missing_corpus(f"corpora {missing} not found at {root} (set QIEEMO_DATA to the shared data folder)")
    return root


@dataclass
class AsrExp:
    dir: Path
    config: Path
    model_file: Path


def _an4_transcripts(path: Path) -> List[Tuple[str, str]]:
    """Lines `<s> TEXT </s> (utt)` or `TEXT (utt)` -> (utt, TEXT)."""
    pairs = []
    for line in path.read_text().splitlines():
        m = re.match(r"^(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^)]+)\)\s*$", line.strip())
        if m:
            pairs.append((m.group(2), m.group(1)))
    return pairs


def _write_an4_dir(an4: Path, subset: str, out: Path) -> List[str]:
    wav_root = an4 / "wav" / ("an4_clstk" if subset == "train" else "an4test_clstk")
    out.mkdir(parents=True, exist_ok=True)
    texts = []
    with open(out / "wav.scp", "w") as scp, open(out / "text", "w") as txt:
        for utt, text in sorted(_an4_transcripts(an4 / "etc" / f"an4_{subset}.transcription")):
            spk = utt.split("-")[1]
            scp.write(f"{utt} {wav_root / spk / (utt + '.sph')}\n")
            txt.write(f"{utt} {text}\n")
            texts.append(text)
    return texts


@pytest.fixture
def an4_train_dir(tmp_path, data_root) -> Path:
    """mini AN4's training part as a Kaldi data dir (wav.scp of .sph files, text), sorted by utterance."""
    out = tmp_path / "an4_train"
    _write_an4_dir(data_root / "mini_an4" / "an4", "train", out)
    return out


def _write_char_tokens(texts: List[str], path: Path) -> None:
    chars = sorted({c for t in texts for c in t.replace(" ", "")})
    path.write_text("\n".join(["<blank>", "<unk>", "<space>"] + chars + ["<sos/eos>"]) + "\n")


def _run(cmd: List[str], log: Path) -> None:
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=log.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed; last lines of {log}:\n" + "".join(open(log).readlines()[-30:]))


def train_small_asr(
    workdir: Path,
    data_root: Path,
    encoder: str,
    stock: bool,
    config: Optional[Path] = None,
    extra: Sequence[str] = (),
    model_file: str = "valid.acc.best.pth",
) -> AsrExp:
    """Collect stats, then train on mini AN4, as asr.sh stages 10-11 would.

    The config is the encoder's small one unless ``config`` is given; ``extra`` options go to
    training only, and ``model_file`` names the checkpoint the config's criterion keeps.
    """
    an4 = data_root / "mini_an4" / "an4"
    texts = _write_an4_dir(an4, "train", workdir / "data" / "train")
    texts += _write_an4_dir(an4, "test", workdir / "data" / "valid")
    tokens = workdir / "tokens.txt"
    _write_char_tokens(texts, tokens)
    module = "espnet2.bin.asr_train" if stock else "espnet_qieemo.bin.asr_train"
    common = [
        sys.executable,
        "-m",
        module,
        "--config",
        str(config or SMALL_ASR_CONFIGS[encoder]),
        "--token_type",
        "char",
        "--token_list",
        str(tokens),
        "--ngpu",
        "0",
        "--num_workers",
        "0",
        "--use_tensorboard",
        "false",
    ]
    data = []
    for split in ("train", "valid"):
        d = workdir / "data" / split
        data += [
            f"--{split}_data_path_and_name_and_type",
            f"{d}/wav.scp,speech,sound",
            f"--{split}_data_path_and_name_and_type",
            f"{d}/text,text,text",
        ]
    stats = workdir / "stats"
    _run(
        common
        + data
        + [
            "--collect_stats",
            "true",
            "--output_dir",
            str(stats),
            "--train_shape_file",
            str(workdir / "data/train/wav.scp"),
            "--valid_shape_file",
            str(workdir / "data/valid/wav.scp"),
        ],
        workdir / "stats.log",
    )
    exp = workdir / "exp"
    _run(
        common
        + data
        + [
            "--output_dir",
            str(exp),
            "--normalize",
            "global_mvn",
            "--normalize_conf",
            f"stats_file={stats}/train/feats_stats.npz",
            "--train_shape_file",
            f"{stats}/train/speech_shape",
            "--valid_shape_file",
            f"{stats}/valid/speech_shape",
            "--fold_length",
            "80000",
            *extra,
        ],
        workdir / "train.log",
    )
    return AsrExp(exp, exp / "config.yaml", exp / model_file)


@pytest.fixture(scope="session")
def asr_exp(tmp_path_factory, data_root) -> Callable[..., AsrExp]:
    """Factory: an ASR model trained on mini AN4, once per set of arguments per test session.

    Without ``config`` it is the encoder's small config; the rest are ``train_small_asr``'s.
    """
    cache: Dict[tuple, AsrExp] = {}

    def get(
        encoder: str = "efficient_conformer",
        stock: bool = False,
        config: Optional[Path] = None,
        extra: Sequence[str] = (),
        model_file: str = "valid.acc.best.pth",
    ) -> AsrExp:
        key = (encoder, stock, config, tuple(extra), model_file)
        if key not in cache:
            workdir = tmp_path_factory.mktemp(f"asr_{encoder}_{'stock' if stock else 'plugin'}")
            cache[key] = train_small_asr(workdir, data_root, encoder, stock, config, extra, model_file)
        return cache[key]

    return get
