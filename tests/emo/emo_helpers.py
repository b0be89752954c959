"""Helpers shared by the emotion tests (a plain module: `conftest` names collide across folders)."""

from typing import List, Tuple

import torch

SMALL_EC = (
    "{output_size: 64, attention_heads: 2, linear_units: 128, num_blocks: 6, "
    "stride_layer_idx: [1], stride: [2], group_layer_idx: [0, 1], group_size: 3}"
)


def pad_batch(waves: List[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad 1-D waveforms into (B, T) with their lengths, as ESPnet's collate does."""
    lens = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lens.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    return batch, lens
