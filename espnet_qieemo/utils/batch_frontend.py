"""ESPnet's ``DefaultFrontend`` (log-mel) for a whole padded batch in one STFT call.

The model computes features utterance by utterance, because a centred STFT pads each
signal's end by reflection and, inside a zero-padded batch, the last frames of a shorter
utterance would read zeros instead. Here every utterance is reflect-padded at its own ends
first and the batch runs one ``torch.stft(center=False)``: each utterance's frames are the
ones it gets alone (a test checks equality with ESPnet's frontend), and frames past its
end are zeroed as ESPnet does. Frontends other than the plain single-channel log-mel one
are not handled (``supports`` says which); callers fall back to the per-utterance path.
"""

from typing import Tuple

import torch


def supports(frontend) -> bool:
    stft, logmel = getattr(frontend, "stft", None), getattr(frontend, "logmel", None)
    return (
        type(frontend).__name__ == "DefaultFrontend"
        and stft is not None
        and logmel is not None
        and stft.center
        and not stft.normalized
        and stft.onesided
        and getattr(logmel, "log_base", None) is None
        and getattr(frontend, "apply_stft", True)
    )


def batch_logmel(frontend, speech: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(B, samples) zero-padded waveforms, (B,) lengths -> (B, frames, n_mels) features, (B,) frame counts."""
    stft = frontend.stft
    n_fft, hop = stft.n_fft, stft.hop_length
    win = stft.win_length or n_fft
    half = n_fft // 2
    lengths = lengths.to(torch.long)
    frames = 1 + torch.div(lengths, hop, rounding_mode="floor")
    total = int(lengths.max()) + 2 * half
    padded = speech.new_zeros(speech.size(0), total)
    for i, n in enumerate(lengths.tolist()):
        padded[i, : n + 2 * half] = torch.nn.functional.pad(speech[i : i + 1, :n][None], (half, half), "reflect")[0, 0]
    window = getattr(torch, f"{stft.window}_window")(win, dtype=speech.dtype, device=speech.device)
    spec = torch.stft(padded, n_fft, hop, win, window, center=False, onesided=True, return_complex=True)
    power = (spec.real**2 + spec.imag**2).transpose(1, 2)[:, : int(frames.max())]
    feats = torch.matmul(power, frontend.logmel.melmat.to(power.dtype)).clamp(min=1e-10).log()
    valid = torch.arange(feats.size(1), device=feats.device)[None, :] < frames[:, None].to(feats.device)
    return feats.masked_fill(~valid[..., None], 0.0), frames
