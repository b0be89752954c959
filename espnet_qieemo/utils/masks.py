"""Padding masks in linear memory, and means that never let padding in.

ESPnet's ``make_pad_mask`` (traceable path) builds a (T+1) x (T+1) matrix to pick rows
from: 3.6 GB of bools for 10 minutes of 10 ms frames. Comparing a range with the lengths
gives the same mask in O(B x T).
"""

import torch


def valid_mask(lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T) boolean mask, True on frames inside each sequence."""
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def masked_window_mean(xs: torch.Tensor, valid: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of each non-overlapping window of ``window`` frames over its valid frames only.

    (B, T, D) and a (B, T) boolean mask -> (B, ceil(T / window), D). A window cut short by the
    end of an utterance averages what it has, so a sequence gives the same result alone and
    inside a padded batch; an all-padding window gives zeros.
    """
    weight = valid.unsqueeze(-1).to(xs.dtype)
    pad = (-xs.size(1)) % window
    sums = torch.nn.functional.pad(xs * weight, (0, 0, 0, pad))
    counts = torch.nn.functional.pad(weight, (0, 0, 0, pad))
    b, t, d = sums.shape
    sums = sums.view(b, t // window, window, d).sum(2)
    counts = counts.view(b, t // window, window, 1).sum(2)
    return sums / counts.clamp(min=1.0)


def masked_mean(xs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames of each sequence: (B, T, D) -> (B, D), padding ignored."""
    return masked_window_mean(xs, valid_mask(lens, xs.size(1)), max(xs.size(1), 1))[:, 0]
