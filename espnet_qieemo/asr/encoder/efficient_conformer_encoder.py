"""Efficient conformer encoder: conformer blocks with progressive downsampling."""

from typing import List, Optional, Sequence, Tuple

import torch
from espnet.nets.pytorch_backend.nets_utils import get_activation
from espnet.nets.pytorch_backend.transformer.embedding import RelPositionalEncoding
from espnet.nets.pytorch_backend.transformer.positionwise_feed_forward import (
    PositionwiseFeedForward,
)
from espnet.nets.pytorch_backend.transformer.subsampling import (
    Conv2dSubsampling,
    Conv2dSubsampling2,
    Conv2dSubsampling6,
    Conv2dSubsampling8,
    TooShortUttError,
)
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from typeguard import typechecked

from espnet_qieemo.asr.encoder.efficient_conformer_layers import (
    ChunkedRelPositionMultiHeadedAttention,
    EfficientConformerBlock,
    GroupedRelPositionMultiHeadedAttention,
    MaskedConvolutionModule,
)
from espnet_qieemo.utils.chunking import row_chunks
from espnet_qieemo.utils.masks import valid_mask

CONV_SUBSAMPLING = {
    "conv2d": Conv2dSubsampling,
    "conv2d2": Conv2dSubsampling2,
    "conv2d6": Conv2dSubsampling6,
    "conv2d8": Conv2dSubsampling8,
}
INPUT_LAYERS = sorted(CONV_SUBSAMPLING) + ["linear"]


def _check_layer_indices(name: str, indices: List[int], num_blocks: int) -> None:
    bad = [i for i in indices if not 0 <= i < num_blocks]
    if bad or len(set(indices)) != len(indices):
        raise ValueError(
            f"{name}={indices}: expected distinct block indices in [0, {num_blocks}) (num_blocks={num_blocks})"
        )


class EfficientConformerEncoder(AbsEncoder):
    """Conformer encoder whose frame rate drops after chosen blocks (efficient conformer).

    Blocks are macaron conformer blocks (FFN/2, relative-position MHSA, convolution,
    FFN/2, LayerNorm; paper eqs. 1-5). After each block ``stride_layer_idx[i]`` the frame
    rate drops by ``stride[i]`` (strided depthwise convolution, masked average-pooled
    residual). Blocks in ``group_layer_idx`` attend over groups of ``group_size`` frames,
    which cheapens attention at the high frame rates.

    Every block's output: the blocks are ``self.encoders`` (a ModuleList); each returns
    ``((x, pos_emb), mask)`` with the mask at its own rate and has an int ``stride`` (1 or
    its downsampling factor). So ``espnet_qieemo.asr.encoder.block_outputs``'s
    ``BlockOutputCollector(encoder)`` yields, per block, its output (padding zeroed), its
    lengths and its frame-rate divisor relative to the first block::

        with BlockOutputCollector(encoder) as blocks:
            out, olens, _ = encoder(feats, feat_lens)
        [(b.hs.shape, b.lens, b.downsample) for b in blocks.outputs]

    ``block_frame_rates()`` gives the same divisors without running the encoder. Each
    block ends in its own LayerNorm, so the encoder output is the last block's output.

    Memory stays linear in the input length: attention runs over chunks of query rows and
    the conv2d input layer over overlapping time chunks, both giving the same output as
    one pass (a 10-minute input runs in one call).

    Lengths are exact per utterance (not derived from the padded batch), so each
    utterance's output in a padded batch equals its output alone. An utterance too short
    for the input layer raises ESPnet's ``TooShortUttError``.
    """

    @typechecked
    def __init__(
        self,
        input_size: int,
        output_size: int = 256,
        attention_heads: int = 4,
        linear_units: int = 2048,
        num_blocks: int = 12,
        dropout_rate: float = 0.1,
        positional_dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        input_layer: str = "conv2d",
        macaron_style: bool = True,
        activation_type: str = "swish",
        cnn_module_kernel: int = 15,
        stride_layer_idx: Sequence[int] = (3,),
        stride: Sequence[int] = (2,),
        group_layer_idx: Sequence[int] = (0, 1, 2, 3),
        group_size: int = 3,
        max_pos_emb_len: int = 5000,
    ) -> None:
        super().__init__()
        self._check_config(
            output_size,
            attention_heads,
            num_blocks,
            input_layer,
            cnn_module_kernel,
            stride_layer_idx,
            stride,
            group_layer_idx,
            group_size,
        )
        self._output_size = output_size
        self.input_layer = input_layer
        self.embed = self._build_embed(
            input_layer,
            input_size,
            output_size,
            dropout_rate,
            RelPositionalEncoding(output_size, positional_dropout_rate, max_pos_emb_len),
        )
        self.min_input_frames = self._min_input_frames()

        activation = get_activation(activation_type)
        strides = dict(zip(stride_layer_idx, stride))

        def feed_forward() -> PositionwiseFeedForward:
            return PositionwiseFeedForward(output_size, linear_units, dropout_rate, activation)

        def attention(idx: int) -> torch.nn.Module:
            if idx in group_layer_idx and group_size > 1:
                return GroupedRelPositionMultiHeadedAttention(
                    attention_heads, output_size, attention_dropout_rate, group_size
                )
            return ChunkedRelPositionMultiHeadedAttention(attention_heads, output_size, attention_dropout_rate)

        self.encoders = torch.nn.ModuleList(
            EfficientConformerBlock(
                output_size,
                attention(idx),
                feed_forward(),
                feed_forward() if macaron_style else None,
                MaskedConvolutionModule(output_size, cnn_module_kernel, activation, strides.get(idx, 1)),
                dropout_rate,
            )
            for idx in range(num_blocks)
        )

    @staticmethod
    def _check_config(
        output_size: int,
        attention_heads: int,
        num_blocks: int,
        input_layer: str,
        cnn_module_kernel: int,
        stride_layer_idx: Sequence[int],
        stride: Sequence[int],
        group_layer_idx: Sequence[int],
        group_size: int,
    ) -> None:
        """Reject bad configurations up front, naming the offending key."""
        if input_layer not in INPUT_LAYERS:
            raise ValueError(f"unknown input_layer={input_layer!r}; expected one of {INPUT_LAYERS}")
        if attention_heads < 1 or output_size % attention_heads:
            raise ValueError(
                f"attention_heads={attention_heads} must be a positive divisor of output_size={output_size}"
            )
        if cnn_module_kernel < 1 or cnn_module_kernel % 2 == 0:
            raise ValueError(f"cnn_module_kernel={cnn_module_kernel} must be a positive odd number")
        if len(stride) != len(stride_layer_idx):
            raise ValueError(
                f"stride={stride} and stride_layer_idx={stride_layer_idx} must have "
                "the same length (one stride per downsampling block)"
            )
        if any(s < 1 for s in stride):
            raise ValueError(f"stride={stride}: every stride must be an integer >= 1")
        _check_layer_indices("stride_layer_idx", stride_layer_idx, num_blocks)
        if group_size < 1:
            raise ValueError(
                f"group_size={group_size}: the time axis can only be grouped by a "
                f"positive number of frames (1 disables grouped attention)"
            )
        _check_layer_indices("group_layer_idx", group_layer_idx, num_blocks)

    @staticmethod
    def _build_embed(
        input_layer: str,
        input_size: int,
        output_size: int,
        dropout_rate: float,
        pos_enc: torch.nn.Module,
    ) -> torch.nn.Module:
        if input_layer == "linear":
            return torch.nn.Sequential(
                torch.nn.Linear(input_size, output_size),
                torch.nn.LayerNorm(output_size),
                torch.nn.Dropout(dropout_rate),
                pos_enc,
            )
        return CONV_SUBSAMPLING[input_layer](input_size, output_size, dropout_rate, pos_enc)

    def output_size(self) -> int:
        return self._output_size

    def block_frame_rates(self) -> List[int]:
        """Frame-rate divisor of each block's output relative to the first block."""
        rates, total = [], 1
        for block in self.encoders:
            total *= block.stride
            rates.append(total)
        return rates

    def subsampled_lengths(self, ilens: torch.Tensor) -> torch.Tensor:
        """Exact per-utterance frame counts after the input layer ("valid" convs)."""
        if self.input_layer == "linear":
            return ilens
        lens = ilens
        for conv in self.embed.conv:
            if isinstance(conv, torch.nn.Conv2d):
                kernel, step = conv.kernel_size[0], conv.stride[0]
                lens = torch.div(lens - kernel, step, rounding_mode="floor") + 1
        return lens.clamp(min=0)

    def _conv_geometry(self) -> Tuple[int, int]:
        """(stride, receptive field) in input frames of the conv input layer."""
        stride, reach = 1, 1
        for conv in self.embed.conv:
            if isinstance(conv, torch.nn.Conv2d):
                reach += (conv.kernel_size[0] - 1) * stride
                stride *= conv.stride[0]
        return stride, reach

    def _conv_embed(self, xs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """ESPnet's conv subsampling run over overlapping time chunks.

        Its first feature map (output_size x time/2 x features/2 floats) is the largest
        tensor of a long input: 1.2 GB at 10 minutes. Output frame u reads input frames
        [u*stride, u*stride + reach), so chunks of output frames overlapping by that
        reach give the same frames as one pass.
        """
        stride, reach = self._conv_geometry()
        frames = int(self.subsampled_lengths(torch.tensor([xs.size(1)])))
        per_frame = xs.size(0) * self._output_size * xs.size(2)
        maps = [
            self.embed.conv(xs[:, r.start * stride : (r.stop - 1) * stride + reach].unsqueeze(1))
            for r in row_chunks(frames, per_frame)
        ]
        x = maps[0] if len(maps) == 1 else torch.cat(maps, dim=2)
        batch, channels, time, feats = x.shape
        return self.embed.out(x.transpose(1, 2).reshape(batch, time, channels * feats))

    def _min_input_frames(self) -> int:
        frames = 1
        while self.subsampled_lengths(torch.tensor([frames])).item() < 1:
            frames += 1
        return frames

    def forward(
        self,
        xs_pad: torch.Tensor,
        ilens: torch.Tensor,
        prev_states: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, None]:
        """Encode (batch, time, input_size) features of lengths ``ilens``.

        Returns (batch, time', output_size) with padding zeroed, the lengths time', None.
        """
        shortest = int(ilens.min())
        if shortest < self.min_input_frames:
            raise TooShortUttError(
                f"an utterance has {shortest} frames; efficient_conformer with "
                f"input_layer={self.input_layer!r} needs at least "
                f"{self.min_input_frames}",
                shortest,
                self.min_input_frames,
            )
        xs_pad = xs_pad[:, : int(ilens.max())]
        if self.input_layer == "linear":
            xs = self.embed(xs_pad)
        else:
            xs = self._conv_embed(xs_pad)
        lens = self.subsampled_lengths(ilens)
        masks = valid_mask(lens.to(xs_pad.device), xs[0].size(1))[:, None, :]
        for block in self.encoders:
            xs, masks = block(xs, masks)
        out = xs[0].masked_fill(~masks.transpose(1, 2), 0.0)
        return out, masks.squeeze(1).sum(1), None
