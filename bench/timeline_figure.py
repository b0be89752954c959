"""The README's timeline figure: ``qieemo timeline --plot`` on real EmoDB speech.

The shared EmoDB copy holds 2 s utterances, so the "conversation" is ten consecutive
recordings of speaker 03 (sentences a01-a05, each in several emotions), joined with 0.6 s of
silence; the energy VAD finds the utterances again. The shipped default model trained on all
ten EmoDB speakers; the README's figure uses the demo's fold-1 model (``--model
egs2/emodb_qieemo/emo1/exp/emo_cma_multihead_seed0/packed/fold1.zip``), for which speaker 03
is a held-out test speaker. Writes the WAV and the figure under
``--out`` (default docs/images) and prints each utterance's true label beside the timeline.

    python bench/timeline_figure.py [--data ../shared/data] [--model MODEL.zip|MODEL.onnx]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

REPO = Path(__file__).resolve().parents[1]
EMODB = {"N": "neu", "F": "hap", "W": "ang", "T": "sad"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("QIEEMO_DATA", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--model", type=Path)
    opts = parser.parse_args()
    from espnet_qieemo.utils import audio

    files = [p for p in sorted((opts.data / "emodb" / "wav").glob("03a0*.wav")) if p.stem[5] in EMODB][:10]
    gap = np.zeros(int(0.6 * 16000), np.float32)
    pieces, truth, t = [gap], [], len(gap) / 16000
    for f in files:
        w = audio.load(f)
        truth.append(f"{t:.2f}-{t + len(w) / 16000:.2f} s: {EMODB[f.stem[5]]} ({f.name})")
        pieces += [w, gap]
        t += (len(w) + len(gap)) / 16000
    opts.out.mkdir(parents=True, exist_ok=True)
    png = opts.out / "timeline_emodb03.png"
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "emodb_speaker03.wav"
        soundfile.write(wav, np.concatenate(pieces), 16000)
        cmd = [sys.executable, "-m", "espnet_qieemo.bin.qieemo_cli", "timeline", str(wav), "--plot", str(png)]
        if opts.model:
            cmd += ["--model", str(opts.model)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    print("true labels:\n  " + "\n  ".join(truth))
    print("timeline:\n" + out)


if __name__ == "__main__":
    main()
