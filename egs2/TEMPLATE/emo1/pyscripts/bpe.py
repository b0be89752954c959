"""Sentencepiece BPE model and ESPnet token list from an ASR text file.

The token list follows ESPnet's convention: ``<blank>`` first, ``<unk>`` second, the
pieces, ``<sos/eos>`` last. Small corpora cannot always fill the requested vocabulary, so
the size is a ceiling (sentencepiece's ``hard_vocab_limit=false``), and the size reached
is logged.

Usage (from a recipe dir): ``python -m pyscripts.bpe --text dump/raw/asr_train/text --vocab_size 5000
--out data/token_list/bpe_unigram5000``
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

import sentencepiece as spm

from pyscripts.kaldi_dir import DataDirError, read_table, staged_dir, write_lines

SPECIAL = ("<unk>", "<s>", "</s>")


def train_bpe(text: Path, out: Path, vocab_size: int, model_type: str = "unigram") -> int:
    """Write ``out/bpe.model`` and ``out/tokens.txt``; returns the token list size."""
    sentences = list(read_table(text).values())
    if not sentences:
        raise DataDirError(f"{text}: no transcripts to train the token model on")
    out = out.resolve()
    with staged_dir(out) as staging:
        write_lines(staging / "train.txt", sentences)
        spm.SentencePieceTrainer.train(
            input=str(staging / "train.txt"),
            model_prefix=str(staging / "bpe"),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            input_sentence_size=100000000,
            hard_vocab_limit=False,
            minloglevel=2,
        )
        sp = spm.SentencePieceProcessor(model_file=str(staging / "bpe.model"))
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.id_to_piece(i) not in SPECIAL]
        tokens = ["<blank>", "<unk>"] + pieces + ["<sos/eos>"]
        write_lines(staging / "tokens.txt", tokens)
        (staging / "train.txt").unlink()
    logging.info("%s: %d tokens (requested vocabulary %d)", out / "tokens.txt", len(tokens), vocab_size)
    return len(tokens)


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", type=Path, required=True, help="Kaldi text file ('<utt> <transcript>')")
    parser.add_argument("--out", type=Path, required=True, help="folder for bpe.model and tokens.txt")
    parser.add_argument("--vocab_size", type=int, default=5000)
    parser.add_argument("--model_type", default="unigram", choices=["unigram", "bpe", "char"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        train_bpe(args.text, args.out, args.vocab_size, args.model_type)
    except DataDirError as err:
        sys.exit(f"ERROR: token list: {err}")


if __name__ == "__main__":
    main()
