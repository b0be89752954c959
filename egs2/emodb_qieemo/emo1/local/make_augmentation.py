"""Noises and room impulse responses for emotion training, made from what is on disk.

No noise or RIR corpus ships with the recipe's data, so both are made here:
- babble: sums of ``--talkers`` LibriSpeech utterances by different speakers (people talking in
  the background, the noise emotion corpora lack most), level-normalised;
- coloured noise: white, pink and brown (hum, fans, tape hiss);
- impulse responses: exponentially decaying Gaussian noise after a direct-path impulse, reverberation
  time (RT60) drawn from ``--rt60`` (a synthetic room: a late-reverberation model, no geometry).

Writes ``<out>/{noise,rir}/*.wav`` (16 kHz) and ``<out>/noise.scp``, ``<out>/rir.scp``
(``<id> <absolute path>``, ESPnet's ``--noise_scp`` / ``--rir_scp``), all or nothing, from a seed.

Usage (from the recipe dir):
  python -m local.make_augmentation --librispeech <LibriSpeech>/train-clean-5 --out data/augmentation
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import soundfile
from pyscripts.kaldi_dir import DataDirError, staged_dir, write_lines
from pyscripts.librispeech import AUDIO_EXTS

from espnet_qieemo.utils import audio

FS = 16000


def speakers_audio(root: Path) -> Dict[str, List[Path]]:
    """LibriSpeech layout: ``<spk>/<chapter>/<spk>-<chapter>-<n>.<ext>``, audio files by speaker."""
    files: Dict[str, List[Path]] = {}
    for path in sorted(root.glob("*/*/*")):
        if path.suffix in AUDIO_EXTS:
            files.setdefault(path.parent.parent.name, []).append(path)
    if len(files) < 2:
        raise DataDirError(f"{root}: expected LibriSpeech speaker folders <spk>/<chapter>/<utt>.flac|.ogg|.wav")
    return files


def babble(files: Dict[str, List[Path]], talkers: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """``talkers`` utterances of different speakers, each at unit power, summed and peak-normalised."""
    n = int(seconds * FS)
    mix = np.zeros(n)
    for spk in rng.choice(sorted(files), size=min(talkers, len(files)), replace=False):
        path = files[spk][rng.integers(len(files[spk]))]
        wav = audio.load(path, FS).astype(np.float64)
        wav = np.resize(wav, n) if len(wav) < n else wav[:n]  # loop a short one
        mix += wav / (np.sqrt(np.mean(wav**2)) + 1e-9)
    return mix / (np.max(np.abs(mix)) + 1e-9) * 0.5


def coloured_noise(colour: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f power) or brown (1/f^2 power) noise, shaped in the frequency domain."""
    n = int(seconds * FS)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1.0 / FS), 1.0)
    exponent = {"white": 0.0, "pink": 0.5, "brown": 1.0}[colour]
    wav = np.fft.irfft(spectrum / freqs**exponent, n)
    return wav / (np.max(np.abs(wav)) + 1e-9) * 0.5


def impulse_response(rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Direct path, then Gaussian noise decaying 60 dB over ``rt60`` seconds (from 5 ms on)."""
    n = int(rt60 * FS)
    t = np.arange(n) / FS
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
    tail[: int(0.005 * FS)] = 0.0
    rir = 0.3 * tail
    rir[0] = 1.0
    return rir / np.max(np.abs(rir))


def make(
    librispeech: Path,
    out: Path,
    n_babble: int,
    talkers: int,
    n_colour: int,
    n_rir: int,
    rt60: Sequence[float],
    seconds: float,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    files = speakers_audio(librispeech)
    noises = {f"babble{i:02d}": babble(files, talkers, seconds, rng) for i in range(n_babble)}
    for colour in ("white", "pink", "brown"):
        noises.update({f"{colour}{i:02d}": coloured_noise(colour, seconds, rng) for i in range(n_colour)})
    rirs = {f"rir{i:02d}": impulse_response(float(rng.uniform(*rt60)), rng) for i in range(n_rir)}
    with staged_dir(out) as staging:
        for kind, table in (("noise", noises), ("rir", rirs)):
            (staging / kind).mkdir()
            lines = []
            for key, wav in table.items():
                soundfile.write(str(staging / kind / f"{key}.wav"), wav, FS, subtype="PCM_16")
                lines.append(f"{key} {(out / kind / f'{key}.wav').resolve()}")
            write_lines(staging / f"{kind}.scp", lines)
    logging.info(
        "%s: %d noises (%d babble of %d talkers, %d per colour), %d RIRs (RT60 %.2f-%.2f s)",
        out,
        len(noises),
        n_babble,
        talkers,
        n_colour,
        len(rirs),
        *rt60,
    )


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--librispeech", type=Path, required=True, help="a LibriSpeech subset folder (babble source)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--babble", type=int, default=20, help="babble noises")
    parser.add_argument("--talkers", type=int, default=5, help="speakers in one babble noise")
    parser.add_argument("--coloured", type=int, default=4, help="noises per colour (white, pink, brown)")
    parser.add_argument("--rirs", type=int, default=40, help="impulse responses")
    parser.add_argument("--rt60", type=float, nargs=2, default=[0.2, 0.9], help="RT60 range, seconds")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each noise")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        make(
            args.librispeech,
            args.out,
            args.babble,
            args.talkers,
            args.coloured,
            args.rirs,
            args.rt60,
            args.seconds,
            args.seed,
        )
    except DataDirError as err:
        sys.exit(f"ERROR: augmentation data: {err}")


if __name__ == "__main__":
    main()
