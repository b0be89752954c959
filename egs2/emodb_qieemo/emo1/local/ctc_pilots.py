"""Short CTC pilots on precomputed features: which recipe leaves CTC's blank plateau first.

A pilot in ESPnet's trainer costs an epoch of feature extraction and padding per look; leaving
the plateau is a matter of a few hundred updates, so this runs them on a fixed subset instead:
fbank + global MVN computed once (ESPnet's frontend and normalisation from the ASR config and
the recipe's statistics), the ASR config's encoder (ESPnet's registry, the plugin's
``efficient_conformer`` included) with ESPnet's CTC layer on top, the recipe's sentencepiece
model and token list. Adam with a linear warm-up then a flat rate; batches of similar length.
Every ``--eval_every`` updates: greedy CTC CER on the validation subset (``pyscripts.asr_wer``).
Writes the curve as JSON (``--out``). It ranks recipes; it does not replace ``emo.sh`` stage 6.

Usage (from the recipe dir), e.g. characters against 200 unigram units for backbone 1::

    python -m local.ctc_pilots --config conf/train_asr_efficient_conformer_so762.yaml \
        --stats exp/asr_stats_char40/train/feats_stats.npz --token_dir data/token_list/bpe_char40 \
        --train dump/raw/asr_train --valid dump/raw/asr_valid --out exp/ctc_pilots/eff_char.json
"""

import argparse
import json
import logging
import random
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch
import yaml
from pyscripts.asr_wer import error_counts
from pyscripts.kaldi_dir import DataDirError, read_table

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.utils import audio

Example = Tuple[str, torch.Tensor, List[int]]  # utterance id, (frames, dims) features, token ids


def load_subset(
    data_dir: Path, frontend, normalize, tokens, max_seconds: float, count: int, seed: int
) -> List[Example]:
    """Up to ``count`` utterances of at most ``max_seconds`` (seeded draw), as features + token ids."""
    wavs, texts = read_table(data_dir / "wav.scp"), read_table(data_dir / "text")
    missing = sorted(set(wavs) - set(texts))
    if missing:
        raise DataDirError(f"{data_dir / 'text'}: no transcript for {missing[0]} (and {len(missing) - 1} more)")
    keys = sorted(wavs)
    random.Random(seed).shuffle(keys)
    out = []
    for key in keys:
        wave = audio.load(Path(wavs[key].split()[-1]))
        if len(wave) > max_seconds * audio.TARGET_FS:
            continue
        x = torch.from_numpy(wave).float()[None]
        with torch.no_grad():
            feats, lens = frontend(x, torch.tensor([x.shape[1]]))
            feats, _ = normalize(feats, lens)
        out.append((key, feats[0], tokens(texts[key])))
        if len(out) == count:
            break
    if not out:
        raise DataDirError(f"{data_dir}: no utterance of {max_seconds} s or less")
    return out


def build(config: Path, stats: Path, token_dir: Path):
    """(frontend, normalize, encoder, ctc, text -> ids, ids -> text) from the recipe's files."""
    with no_nltk_downloads():
        from espnet2.asr.ctc import CTC
        from espnet2.asr.frontend.default import DefaultFrontend
        from espnet2.layers.global_mvn import GlobalMVN
        from espnet2.tasks.asr import encoder_choices
        from espnet2.text.build_tokenizer import build_tokenizer
        from espnet2.text.token_id_converter import TokenIDConverter

        import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer)
    conf = yaml.safe_load(config.read_text())
    for key in ("frontend_conf", "encoder", "encoder_conf"):
        if key not in conf:
            raise DataDirError(f"{config}: no '{key}' (an ESPnet ASR training config is expected)")
    frontend = DefaultFrontend(**conf["frontend_conf"])
    encoder = encoder_choices.get_class(conf["encoder"])(frontend.output_size(), **conf["encoder_conf"])
    tokenizer = build_tokenizer("bpe", token_dir / "bpe.model")
    converter = TokenIDConverter(token_dir / "tokens.txt")
    ctc = CTC(odim=len(converter.token_list), encoder_output_size=encoder.output_size())

    def to_ids(text: str) -> List[int]:
        return converter.tokens2ids(tokenizer.text2tokens(text))

    def to_text(ids: List[int]) -> str:
        return tokenizer.tokens2text(converter.ids2tokens(ids))

    return frontend, GlobalMVN(stats), encoder, ctc, to_ids, to_text


def pad(batch: Sequence[Example]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    feats = torch.nn.utils.rnn.pad_sequence([f for _, f, _ in batch], batch_first=True)
    ys = torch.nn.utils.rnn.pad_sequence([torch.tensor(y) for _, _, y in batch], batch_first=True, padding_value=-1)
    return feats, torch.tensor([len(f) for _, f, _ in batch]), ys, torch.tensor([len(y) for _, _, y in batch])


def greedy(ctc, hs: torch.Tensor, lens: torch.Tensor) -> List[List[int]]:
    """Best path per utterance: repeats merged, blanks (id 0) dropped."""
    out = []
    for best, n in zip(ctc.argmax(hs).tolist(), lens.tolist()):
        path = best[:n]
        out.append([t for i, t in enumerate(path) if t != 0 and (i == 0 or t != path[i - 1])])
    return out


def valid_cer(encoder, ctc, valid: Sequence[Example], to_text, refs: Dict[str, str], batch_size: int) -> float:
    encoder.eval()
    hyps = {}
    with torch.no_grad():
        for i in range(0, len(valid), batch_size):
            batch = valid[i : i + batch_size]
            feats, lens, _, _ = pad(batch)
            hs, hlens, _ = encoder(feats, lens)
            for (key, _, _), ids in zip(batch, greedy(ctc, hs, hlens)):
                hyps[key] = to_text(ids)
    encoder.train()
    errors, length = error_counts({k: refs[k] for k, _, _ in valid}, hyps, "char")
    return errors / max(length, 1)


def train(args: argparse.Namespace) -> List[Dict[str, float]]:
    torch.manual_seed(args.seed)
    frontend, normalize, encoder, ctc, to_ids, to_text = build(args.config, args.stats, args.token_dir)
    train_set = load_subset(args.train, frontend, normalize, to_ids, args.max_seconds, args.num_train, args.seed)
    valid = load_subset(args.valid, frontend, normalize, to_ids, args.max_seconds, args.num_valid, args.seed)
    refs = read_table(args.valid / "text")
    train_set.sort(key=lambda e: len(e[1]))
    batches = [train_set[i : i + args.batch_size] for i in range(0, len(train_set), args.batch_size)]
    params = list(encoder.parameters()) + list(ctc.parameters())
    optim = torch.optim.Adam(params, lr=args.lr)
    order, curve, losses, step = random.Random(args.seed), [], [], 0
    while step < args.steps:
        order.shuffle(batches)
        for batch in batches[: args.steps - step]:
            feats, lens, ys, ylens = pad(batch)
            hs, hlens, _ = encoder(feats, lens)
            loss = ctc(hs, hlens, ys, ylens)  # summed over tokens, averaged over utterances
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            step += 1
            for group in optim.param_groups:
                group["lr"] = args.lr * min(1.0, step / args.warmup)
            optim.step()
            losses.append(loss.item() / ylens.float().mean().item())
            if step % args.eval_every == 0:
                per_token = sum(losses) / len(losses)
                cer = valid_cer(encoder, ctc, valid, to_text, refs, args.batch_size)
                curve.append({"step": step, "train_ctc_per_token": per_token, "valid_cer": cer})
                losses = []
                logging.info("step %d: train CTC loss per token %.3f, valid CER %.3f", step, per_token, cer)
    return curve


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="ESPnet ASR training config (frontend, encoder)")
    parser.add_argument("--stats", type=Path, required=True, help="feats_stats.npz of the recipe's stage 5")
    parser.add_argument("--token_dir", type=Path, required=True, help="folder with bpe.model and tokens.txt")
    parser.add_argument("--train", type=Path, required=True, help="Kaldi data dir (wav.scp, text)")
    parser.add_argument("--valid", type=Path, required=True, help="Kaldi data dir (wav.scp, text)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for the curve")
    parser.add_argument("--max_seconds", type=float, default=10.0)
    parser.add_argument("--num_train", type=int, default=2500)
    parser.add_argument("--num_valid", type=int, default=150)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")
    try:
        curve = train(args)
    except (DataDirError, audio.AudioError, OSError) as err:
        sys.exit(f"ERROR: ctc_pilots: {err}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"config": str(args.config), "token_dir": str(args.token_dir), "args": vars(args), "curve": curve}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
