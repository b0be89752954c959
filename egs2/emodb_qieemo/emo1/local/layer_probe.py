"""Per-block linear probe of a pretrained ASR encoder (paper Table I), over the recipe's folds.

Which encoder blocks carry emotion is what motivates fusing the last blocks (MMF), so the
probe measures it: every utterance goes once through the frozen ASR model, each block's
output is mean-pooled over its valid frames, and per block and fold a small head (two
256-dim linear layers, ReLU between) is trained on the fold's training part, its epoch
chosen by UA on the fold's validation part (training speakers only), and scored on test.
Writes ``probe.json`` (every block x fold x metric), ``probe.tsv`` and ``probe.png``.

Usage (from the recipe dir): ``python -m local.layer_probe --asr_config exp/asr/config.yaml
--asr_model_file exp/asr/valid.acc.best.pth --labels data/emodb/labels
--fold dump/raw/fold1 ... --out_dir exp/layer_probe``
"""

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from pyscripts.kaldi_dir import DataDirError, read_labels, read_table, write_lines

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.asr.encoder.block_outputs import BlockOutputCollector
from espnet_qieemo.emo.metrics import METRICS, confusion_matrix, metrics_from_confusion
from espnet_qieemo.utils import audio

HIDDEN = 256
PARTS = ("train", "valid", "test")


def load_asr(config: Path, model_file: Path) -> torch.nn.Module:
    with no_nltk_downloads():
        from espnet2.tasks.asr import ASRTask

        from espnet_qieemo.utils.weights import read_state_dict

        model, _ = ASRTask.build_model_from_file(config, None, "cpu")  # ESPnet's loader would unpickle
    model.load_state_dict(read_state_dict(model_file))
    return model.eval()


@torch.no_grad()
def pooled_blocks(model: torch.nn.Module, waves: Sequence[np.ndarray]) -> np.ndarray:
    """(batch, blocks, dim): each block's output averaged over its valid frames."""
    lens = torch.tensor([len(w) for w in waves])
    speech = torch.zeros(len(waves), int(lens.max()))
    for i, w in enumerate(waves):
        speech[i, : len(w)] = torch.from_numpy(w)
    with BlockOutputCollector(model.encoder) as blocks:
        model.encode(speech, lens)
    pooled = [b.hs.sum(1) / b.lens.clamp(min=1).unsqueeze(1).to(b.hs.dtype) for b in blocks.outputs]
    return torch.stack(pooled, dim=1).numpy()


def extract(model: torch.nn.Module, wav_scp: Path, cache: Dict[str, np.ndarray], batch_size: int) -> None:
    """Add the pooled block features of every not yet seen utterance of ``wav_scp`` to ``cache``."""
    todo = [(u, p) for u, p in read_table(wav_scp).items() if u not in cache]
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        waves = []
        for utt, path in chunk:
            try:
                waves.append(audio.load(path))
            except audio.AudioError as err:
                raise DataDirError(f"{wav_scp}: {utt} ({path}): {err}") from None
        for (utt, _), feats in zip(chunk, pooled_blocks(model, waves)):
            cache[utt] = feats


def part_data(
    fold: Path, part: str, labels: Sequence[str], cache: Dict[str, np.ndarray]
) -> Tuple[np.ndarray, np.ndarray]:
    emotion = read_table(fold / part / "emotion")
    utts = list(read_table(fold / part / "wav.scp"))
    unknown = sorted({emotion[u] for u in utts} - set(labels))
    if unknown:
        raise DataDirError(f"{fold / part}/emotion: labels {unknown} not in the label list {list(labels)}")
    return np.stack([cache[u] for u in utts]), np.array([labels.index(emotion[u]) for u in utts])


def scores(y: np.ndarray, pred: np.ndarray, n_cls: int) -> Dict[str, float]:
    return metrics_from_confusion(confusion_matrix(y, pred, n_cls))


def train_head(data: Dict[str, Tuple[np.ndarray, np.ndarray]], n_cls: int, epochs: int, seed: int) -> Dict[str, float]:
    """Fit D -> 256 -> C on train (full batch), keep the epoch with the best valid UA; test metrics."""
    torch.manual_seed(seed)
    x_tr = data["train"][0]
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-5
    xs = {p: torch.from_numpy((x - mean) / std).float() for p, (x, _) in data.items()}
    ys = {p: torch.from_numpy(y).long() for p, (_, y) in data.items()}
    head = torch.nn.Sequential(torch.nn.Linear(x_tr.shape[1], HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, n_cls))
    optim = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-4)
    best_ua, best_state = -1.0, None
    for _ in range(epochs):
        head.train()
        optim.zero_grad()
        torch.nn.functional.cross_entropy(head(xs["train"]), ys["train"]).backward()
        optim.step()
        head.eval()
        with torch.no_grad():
            ua = scores(data["valid"][1], head(xs["valid"]).argmax(-1).numpy(), n_cls)["UA"]
        if ua > best_ua:
            best_ua, best_state = ua, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    with torch.no_grad():
        return scores(data["test"][1], head(xs["test"]).argmax(-1).numpy(), n_cls)


def probe(
    model: torch.nn.Module, folds: Sequence[Path], labels: List[str], epochs: int, seed: int, batch_size: int
) -> Dict:
    """{"blocks": [{"block": i, "folds": [{WA, UA, WF1}, ...]}, ...]} over every encoder block."""
    # Small model, small heads: one thread is 10-50x faster than several fighting over a busy CPU.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cache: Dict[str, np.ndarray] = {}
        for fold in folds:
            for part in PARTS:
                extract(model, fold / part / "wav.scp", cache, batch_size)
        n_blocks = next(iter(cache.values())).shape[0]
        per_block: List[List[Dict[str, float]]] = [[] for _ in range(n_blocks)]
        for fold in folds:
            data = {p: part_data(fold, p, labels, cache) for p in PARTS}
            for b in range(n_blocks):
                block_data = {p: (x[:, b], y) for p, (x, y) in data.items()}
                per_block[b].append(train_head(block_data, len(labels), epochs, seed))
            logging.info("%s: test WA per block %s", fold, [round(float(r[-1]["WA"]), 1) for r in per_block])
    finally:
        torch.set_num_threads(threads)
    return {
        "labels": labels,
        "seed": seed,
        "epochs": epochs,
        "folds": [str(f) for f in folds],
        "blocks": [{"block": b + 1, "folds": res} for b, res in enumerate(per_block)],
    }


def summary(result: Dict) -> List[Dict]:
    """Per block: mean and population std over folds of each metric."""
    rows = []
    for block in result["blocks"]:
        values = {m: np.array([f[m] for f in block["folds"]]) for m in METRICS}
        rows.append({"block": block["block"], **{m: (float(v.mean()), float(v.std())) for m, v in values.items()}})
    return rows


def plot(result: Dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary(result)
    blocks = [r["block"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for metric in ("WA", "UA"):
        ax.errorbar(
            blocks,
            [r[metric][0] for r in rows],
            yerr=[r[metric][1] for r in rows],
            marker="o",
            capsize=3,
            label=f"{metric} (mean +- std over {len(result['folds'])} folds)",
        )
    ax.set_xticks(blocks)
    ax.set_xlabel("encoder block")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def write_results(result: Dict, out_dir: Path, title: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_lines(out_dir / "probe.json", [json.dumps(result, indent=2)])
    write_lines(
        out_dir / "probe.tsv",
        ["block\t" + "\t".join(f"{m}_mean\t{m}_std" for m in METRICS)]
        + [f"{r['block']}\t" + "\t".join(f"{r[m][0]:.2f}\t{r[m][1]:.2f}" for m in METRICS) for r in summary(result)],
    )
    plot(result, out_dir / "probe.png", title)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asr_config", type=Path, required=True, help="config.yaml of the ASR experiment")
    parser.add_argument("--asr_model_file", type=Path, required=True, help="its checkpoint (.pth)")
    parser.add_argument("--labels", type=Path, required=True, help="class order, one label per line")
    parser.add_argument("--fold", type=Path, action="append", required=True, help="fold dir with train/valid/test")
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=200, help="full-batch epochs per head")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch_size", type=int, default=16, help="utterances per encoder pass")
    parser.add_argument("--title", default="linear probe per ASR encoder block")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        labels = read_labels(args.labels)
        for path in (args.asr_config, args.asr_model_file):
            if not path.is_file():
                raise DataDirError(f"{path}: not found; expected the ASR experiment's config.yaml and .pth")
        result = probe(
            load_asr(args.asr_config, args.asr_model_file), args.fold, labels, args.epochs, args.seed, args.batch_size
        )
        write_results(result, args.out_dir, args.title)
    except DataDirError as err:
        sys.exit(f"ERROR: layer probe: {err}")


if __name__ == "__main__":
    main()
