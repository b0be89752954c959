"""Block fusions: turn the encoder's per-block outputs into one emotion feature sequence E.

``mmf`` is the paper's multi-block fusion (II.B); ``last_layer`` (no MMF, PPG only) and
``weighted_sum`` (the usual SUPERB-style learnable sum) are the baselines it is compared with.
All of them take the block outputs recorded by ``BlockOutputCollector`` and work at the frame
rate of the encoder's last block.
"""

from abc import ABC, abstractmethod
from typing import List, Tuple

import torch

from espnet_qieemo.asr.encoder.block_outputs import BlockOutput
from espnet_qieemo.utils.masks import masked_window_mean, valid_mask


def align_to_rate(block: BlockOutput, target: BlockOutput) -> torch.Tensor:
    """Bring ``block`` to the frame rate and padded length of ``target``.

    A faster block is averaged over the valid frames of each window of ``r`` frames
    (padding never enters the mean, so an utterance gives the same frames alone and inside
    a padded batch); a slower one is repeated. Frames past ``target.lens`` are zeroed.
    """
    hs, t_out = block.hs, target.hs.size(1)
    if block.downsample == target.downsample:
        out = hs
    elif target.downsample % block.downsample == 0:
        out = masked_window_mean(hs, valid_mask(block.lens, hs.size(1)), target.downsample // block.downsample)
    elif block.downsample % target.downsample == 0:
        out = hs.repeat_interleave(block.downsample // target.downsample, dim=1)
    else:
        raise ValueError(
            f"cannot align a block at frame-rate divisor {block.downsample} to one at "
            f"{target.downsample}: the divisors must be multiples of each other"
        )
    if out.size(1) < t_out:
        out = torch.nn.functional.pad(out, (0, 0, 0, t_out - out.size(1)))
    out = out[:, :t_out]
    return out.masked_fill(~valid_mask(target.lens, t_out).unsqueeze(-1), 0.0)


class AbsFusion(torch.nn.Module, ABC):
    """Fuses the last ``num_blocks`` block outputs into (E, E_lengths) at the last block's rate."""

    def __init__(self, input_size: int, num_encoder_blocks: int, num_blocks: int) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        if num_encoder_blocks < num_blocks:
            raise ValueError(
                f"{type(self).__name__} fuses the last {num_blocks} encoder blocks, but the "
                f"encoder has only {num_encoder_blocks}; lower fusion_conf.num_blocks"
            )
        self.input_size = input_size
        self.num_blocks = num_blocks

    @abstractmethod
    def output_size(self) -> int:
        """Feature dimension of E."""

    @abstractmethod
    def fuse(self, stacked: torch.Tensor) -> torch.Tensor:
        """(B, num_blocks, T, D) aligned blocks -> (B, T, output_size())."""

    def forward(self, blocks: List[BlockOutput]) -> Tuple[torch.Tensor, torch.Tensor]:
        if len(blocks) < self.num_blocks:
            raise ValueError(f"{type(self).__name__} needs {self.num_blocks} block outputs, got {len(blocks)}")
        chosen, last = blocks[-self.num_blocks :], blocks[-1]
        stacked = torch.stack([align_to_rate(b, last) for b in chosen], dim=1)
        fused = self.fuse(stacked)
        mask = valid_mask(last.lens, fused.size(1)).unsqueeze(-1)
        return fused.masked_fill(~mask, 0.0), last.lens


class LastLayerFusion(AbsFusion):
    """No MMF: E is the last block's output (the PPG features alone)."""

    def __init__(self, input_size: int, num_encoder_blocks: int) -> None:
        super().__init__(input_size, num_encoder_blocks, num_blocks=1)

    def output_size(self) -> int:
        return self.input_size

    def fuse(self, stacked: torch.Tensor) -> torch.Tensor:
        return stacked[:, 0]


class _BlockWeights(AbsFusion):
    """Learnable softmax-normalised weights, one per fused block, multiplied into the blocks."""

    def __init__(self, input_size: int, num_encoder_blocks: int, num_blocks: int) -> None:
        super().__init__(input_size, num_encoder_blocks, num_blocks)
        self.block_weights = torch.nn.Parameter(torch.zeros(num_blocks))

    def weighted(self, stacked: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.block_weights, dim=0)
        return stacked * weights.view(1, -1, 1, 1)


class WeightedSumFusion(_BlockWeights):
    """E = sum_i softmax(w)_i h^i: a learnable layer average without the convolution."""

    def __init__(self, input_size: int, num_encoder_blocks: int, num_blocks: int = 6) -> None:
        super().__init__(input_size, num_encoder_blocks, num_blocks)

    def output_size(self) -> int:
        return self.input_size

    def fuse(self, stacked: torch.Tensor) -> torch.Tensor:
        return self.weighted(stacked).sum(1)


class MultiBlockFusion(_BlockWeights):
    """The paper's MMF: weighted blocks stacked as channels, Conv2D over (time, feature).

    The convolution sees each block as one input channel, so it can mix blocks and
    neighbouring frames/features; a linear layer then maps (channels x features) of each
    frame to the emotion feature e^t. A LayerNorm keeps E at unit scale: the softmax
    weights (1/num_blocks each at the start) and the two layers would otherwise shrink it
    so far that CMA's attention starts uniform and E barely reaches the classifier.
    """

    def __init__(
        self,
        input_size: int,
        num_encoder_blocks: int,
        num_blocks: int = 6,
        conv_channels: int = 8,
        kernel_size: int = 3,
        output_size: int = 256,
        dropout_rate: float = 0.1,
    ) -> None:
        super().__init__(input_size, num_encoder_blocks, num_blocks)
        if kernel_size % 2 != 1:
            raise ValueError(f"MMF kernel_size must be odd to keep the length, got {kernel_size}")
        self.conv = torch.nn.Conv2d(num_blocks, conv_channels, kernel_size, padding=kernel_size // 2)
        self.proj = torch.nn.Linear(conv_channels * input_size, output_size)
        self.norm = torch.nn.LayerNorm(output_size)
        self.dropout = torch.nn.Dropout(dropout_rate)
        self._output_size = output_size

    def output_size(self) -> int:
        return self._output_size

    def fuse(self, stacked: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(self.weighted(stacked)))  # (B, C, T, D)
        b, c, t, d = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * d)
        return self.norm(self.proj(self.dropout(x)))
