"""Read every block's output off any ESPnet encoder without editing its class.

ESPnet encoders keep their blocks in ``encoder.encoders`` and each block returns
``(x, mask)`` or ``((x, pos_emb), mask)``. Forward hooks on those blocks let the emotion
model use a stock ESPnet checkpoint (conformer, e_branchformer, ...) as its backbone.
A block may carry an integer ``stride`` attribute (the efficient conformer's downsampling
blocks do); it is how the frame rate of each block is known exactly.
"""

from dataclasses import dataclass
from typing import List

import torch


@dataclass
class BlockOutput:
    """One block's output: features, valid lengths and frame-rate divisor.

    ``downsample`` counts the frame-rate reduction after the encoder's input layer,
    so a block with ``downsample == 2`` runs at half the rate of the first block.
    """

    hs: torch.Tensor  # (batch, time, dim), padding zeroed
    lens: torch.Tensor  # (batch,)
    downsample: int


def encoder_blocks(encoder: torch.nn.Module) -> List[torch.nn.Module]:
    blocks = getattr(encoder, "encoders", None)
    if blocks is None:
        raise ValueError(
            f"{type(encoder).__name__} has no 'encoders' block list; block outputs can only "
            "be read from ESPnet encoders that keep their blocks in `self.encoders`"
        )
    return list(blocks)


def block_downsampling(encoder: torch.nn.Module) -> List[int]:
    """Cumulative frame-rate divisor after each block (1 for encoders without strides)."""
    factors, total = [], 1
    for block in encoder_blocks(encoder):
        total *= int(getattr(block, "stride", 1))
        factors.append(total)
    return factors


class BlockOutputCollector:
    """Context manager that records each block's output during ``encoder(...)``.

    Usage::

        with BlockOutputCollector(encoder) as blocks:
            out, olens, _ = encoder(feats, feat_lens)
        blocks.outputs  # list of BlockOutput, one per block, in order
    """

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.blocks = encoder_blocks(encoder)
        self.factors = block_downsampling(encoder)
        self.outputs: List[BlockOutput] = []
        self._handles: list = []

    def __enter__(self) -> "BlockOutputCollector":
        self.outputs = []
        for block, factor in zip(self.blocks, self.factors):
            self._handles.append(block.register_forward_hook(self._hook(factor)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, factor: int):
        def record(module, inputs, output) -> None:
            xs, mask = output[0], output[1]
            if isinstance(xs, tuple):
                xs = xs[0]
            valid = mask[:, -1, :] if mask.dim() == 3 else mask
            lens = valid.sum(-1).long()
            xs = xs.masked_fill(~valid.bool().unsqueeze(-1), 0.0)
            self.outputs.append(BlockOutput(xs, lens, factor))

        return record
