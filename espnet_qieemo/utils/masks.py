"""Padding masks in linear memory.

ESPnet's ``make_pad_mask`` (traceable path) builds a (T+1) x (T+1) matrix to pick rows
from: 3.6 GB of bools for 10 minutes of 10 ms frames. Comparing a range with the lengths
gives the same mask in O(B x T).
"""
import torch


def valid_mask(lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T) boolean mask, True on frames inside each sequence."""
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]
