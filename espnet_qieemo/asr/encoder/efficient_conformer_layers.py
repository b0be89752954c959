"""Building blocks of the efficient conformer (progressive downsampling, grouped attention).

Every module here takes the padding mask and keeps padded frames out of what valid frames
see (zeroed before convolutions, left out of pooling averages and attention keys), so an
utterance gives the same output inside a padded batch as when it runs alone.
Masks are bool tensors (batch, 1, time), True on valid frames, as in ESPnet.
Attention runs over chunks of query rows (``espnet_qieemo.utils.chunking``), so a long
input never holds a full time x time score matrix.
"""

import math
from typing import Optional, Tuple

import torch
from espnet.nets.pytorch_backend.conformer.convolution import ConvolutionModule
from espnet.nets.pytorch_backend.transformer.attention import (
    RelPositionMultiHeadedAttention,
)
from espnet.nets.pytorch_backend.transformer.layer_norm import LayerNorm

from espnet_qieemo.utils.chunking import row_chunks
from espnet_qieemo.utils.masks import masked_window_mean


def pad_time(x: torch.Tensor, multiple: int, dim: int = 1) -> torch.Tensor:
    """Zero-pad ``x`` along ``dim`` up to a multiple of ``multiple`` frames."""
    extra = (-x.size(dim)) % multiple
    if extra == 0:
        return x
    shape = list(x.shape)
    shape[dim] = extra
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


def downsample_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """Mask after striding: a window is valid when its first frame is (valid = a prefix)."""
    return mask[:, :, ::stride]


def downsample_rel_pos(pos_emb: torch.Tensor, stride: int) -> torch.Tensor:
    """Relative positional embedding for the sequence after a stride.

    ``pos_emb`` holds relative distances T-1 ... -(T-1) (centre = distance 0). The
    strided sequence needs distances (T'-1) ... -(T'-1) counted in its own frames, which
    are ``stride`` input frames apart, so every ``stride``-th entry around the centre is
    kept: distances keep their meaning in time and do not depend on the padded length.
    """
    centre = pos_emb.size(1) // 2
    time = centre + 1
    reach = (math.ceil(time / stride) - 1) * stride
    return pos_emb[:, centre - reach : centre + reach + 1 : stride]


class MaskedConvolutionModule(ConvolutionModule):
    """ESPnet's conformer convolution module with padding masked and an optional stride.

    Padded frames are zeroed after the GLU so the depthwise convolution reads zeros there,
    exactly like the zero padding it sees at the end of an unpadded utterance. With
    ``stride > 1`` the depthwise convolution is strided ("same" padding), giving
    ceil(time / stride) frames: output frame i is centred on input frame i * stride.
    Parameter names equal ESPnet's, so weights are interchangeable.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        activation: torch.nn.Module,
        stride: int = 1,
    ) -> None:
        super().__init__(channels, kernel_size, activation)
        self.stride = stride
        if stride > 1:
            self.depthwise_conv = torch.nn.Conv1d(
                channels,
                channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=channels,
            )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, time, channels) -> (batch, ceil(time / stride), channels)."""
        x = x.transpose(1, 2)
        x = torch.nn.functional.glu(self.pointwise_conv1(x), dim=1)
        x = x.masked_fill(~mask, 0.0)
        x = self.activation(self.norm(self.depthwise_conv(x)))
        return self.pointwise_conv2(x).transpose(1, 2)


def shift_rows(x: torch.Tensor, keys: int) -> torch.Tensor:
    """ESPnet's ``rel_shift`` for a chunk of c query rows: (.., c, keys + c - 1) -> (.., c, keys).

    Row r keeps the ``keys`` columns starting at c - 1 - r: the embeddings of distances
    i ... i - keys + 1 for its query i. With one zero column appended, those columns
    start at a constant stride in the flattened chunk, so a slice and a reshape pick
    them, as ESPnet's ``rel_shift`` does for a whole matrix (and it exports to ONNX).
    """
    batch, heads, rows, width = x.shape
    x = torch.nn.functional.pad(x, (0, 1)).reshape(batch, heads, rows * (width + 1))
    x = x[..., rows - 1 : rows - 1 + rows * width]
    return x.reshape(batch, heads, rows, width)[..., :keys]


def rel_pos_attention(
    q_u: torch.Tensor,
    q_v: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    p: torch.Tensor,
    mask: Optional[torch.Tensor],
    divisor: float,
    dropout: torch.nn.Module,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Relative-position attention of ESPnet's ``RelPositionMultiHeadedAttention``, by row chunks.

    q_u, q_v, k, v: (batch, head, time, d); p: (1 or batch, head, 2*time-1, d) holding
    distances time-1 ... -(time-1); mask: (batch, 1 or time, time), True on valid keys.
    Query rows [s, e) only meet distances e-1 ... s-time+1, so each chunk multiplies its
    queries with that window of p alone. Masking and softmax equal ESPnet's
    ``forward_attention``. Returns the context (batch, head, time, d) and the attention
    weights when they fitted in one chunk (what ESPnet's attention plots read), else None.
    """
    time = q_u.size(2)
    chunks = row_chunks(time, q_u.size(0) * q_u.size(1) * 2 * time)
    contexts, attn = [], None
    for rows in chunks:
        ac = torch.matmul(q_u[:, :, rows], k.transpose(-2, -1))
        window = p[:, :, time - rows.stop : 2 * time - 1 - rows.start]
        bd = shift_rows(torch.matmul(q_v[:, :, rows], window.transpose(-2, -1)), time)
        scores = (ac + bd) / divisor
        if mask is None:
            attn = torch.softmax(scores, dim=-1)
        else:
            invalid = ~(mask if mask.size(1) == 1 else mask[:, rows]).unsqueeze(1)
            scores = scores.masked_fill(invalid, torch.finfo(scores.dtype).min)
            attn = torch.softmax(scores, dim=-1).masked_fill(invalid, 0.0)
        contexts.append(torch.matmul(dropout(attn), v))
    return torch.cat(contexts, dim=2), attn if len(chunks) == 1 else None


class ChunkedRelPositionMultiHeadedAttention(RelPositionMultiHeadedAttention):
    """ESPnet's relative-position MHSA (same parameters, same output) in bounded memory.

    The stock module builds (batch, head, time, 2*time-1) and (batch, head, time, time)
    tensors and keeps the attention weights alive after the call, so memory grows as
    time^2 per block; a 10-minute input does not fit in 12 GiB. Here the scores exist
    one chunk of query rows at a time, and ``self.attn`` is kept only when it is small
    enough to fit in one chunk.
    """

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        pos_emb: torch.Tensor,
        mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """Self-attention of (batch, time, n_feat) with pos_emb (1, 2*time-1, n_feat)."""
        q, k, v = self.forward_qkv(query, key, value)
        q = q.transpose(1, 2)  # (batch, time, head, d_k)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k)
        context, self.attn = rel_pos_attention(
            (q + self.pos_bias_u).transpose(1, 2),
            (q + self.pos_bias_v).transpose(1, 2),
            k,
            v,
            p.transpose(1, 2),
            mask,
            math.sqrt(self.d_k),
            self.dropout,
        )
        context = context.transpose(1, 2).reshape(query.size(0), -1, self.h * self.d_k)
        return self.linear_out(context)


class GroupedRelPositionMultiHeadedAttention(ChunkedRelPositionMultiHeadedAttention):
    """Relative-position MHSA over groups of ``group_size`` neighbouring frames.

    After the usual per-frame projections, ``group_size`` consecutive frames are
    concatenated per head (d_k -> group_size * d_k), so attention runs on
    ceil(time / group_size) positions: the score matrix shrinks by group_size^2 and its
    cost by group_size. The time axis is zero-padded to a multiple of group_size inside;
    padded and invalid frames are zeroed after projection, so a partial last group is the
    same whether or not padding follows it. Pairs of frames at the same place in two
    groups are exactly ``k * group_size`` frames apart, so the positional term uses the
    embedding of that distance. Parameters equal ESPnet's ungrouped attention.
    """

    def __init__(self, n_head: int, n_feat: int, dropout_rate: float, group_size: int) -> None:
        super().__init__(n_head, n_feat, dropout_rate)
        self.group_size = group_size

    def _group(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, time, head, d_k) -> (batch, head, groups, group_size * d_k)."""
        x = pad_time(x, self.group_size)
        batch, time, head, d_k = x.shape
        x = x.view(batch, time // self.group_size, self.group_size, head, d_k)
        return x.permute(0, 3, 1, 2, 4).reshape(batch, head, -1, self.group_size * d_k)

    def _ungroup(self, x: torch.Tensor, time: int) -> torch.Tensor:
        """(batch, head, groups, group_size * d_k) -> (batch, time, head * d_k)."""
        batch, head, groups, _ = x.shape
        x = x.view(batch, head, groups, self.group_size, self.d_k)
        x = x.permute(0, 2, 3, 1, 4).reshape(batch, groups * self.group_size, -1)
        return x[:, :time]

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        pos_emb: torch.Tensor,
        mask: Optional[torch.Tensor],
    ) -> torch.Tensor:
        """Self-attention of (batch, time, n_feat) with pos_emb (1, 2*time-1, n_feat)."""
        batch, time, _ = query.shape
        valid = (
            torch.ones(batch, time, 1, 1, dtype=torch.bool, device=query.device)
            if mask is None
            else mask.transpose(1, 2).unsqueeze(-1)
        )
        q = self.linear_q(query).view(batch, time, self.h, self.d_k)
        k = self.linear_k(key).view(batch, time, self.h, self.d_k)
        v = self.linear_v(value).view(batch, time, self.h, self.d_k)
        q_u = self._group((q + self.pos_bias_u).masked_fill(~valid, 0.0))
        q_v = (q + self.pos_bias_v).masked_fill(~valid, 0.0)
        k = self._group(k.masked_fill(~valid, 0.0))
        v = self._group(v.masked_fill(~valid, 0.0))

        # positional term: a group's query summed over its frames meets the embedding
        # of the distance between groups (in frames), shared by the frames of a group
        q_v = pad_time(q_v, self.group_size)
        q_v = q_v.view(batch, -1, self.group_size, self.h, self.d_k).sum(2)
        p = self.linear_pos(downsample_rel_pos(pos_emb, self.group_size))
        p = p.view(p.size(0), -1, self.h, self.d_k).transpose(1, 2)
        group_mask = None
        if mask is not None:
            group_mask = downsample_mask(pad_time(mask, self.group_size, dim=2), self.group_size)
        context, self.attn = rel_pos_attention(
            q_u,
            q_v.transpose(1, 2),
            k,
            v,
            p,
            group_mask,
            math.sqrt(self.d_k * self.group_size),
            self.dropout,
        )  # self.attn: (batch, head, groups, groups) for ESPnet's attention plots
        return self.linear_out(self._ungroup(context, time))


class EfficientConformerBlock(torch.nn.Module):
    """Macaron conformer block (eqs. 1-5) that may lower the frame rate by ``stride``.

    x = x + FFN1(x)/2; x = x + MHSA(x); x = pool(x) + Conv(x); x = x + FFN2(x)/2;
    out = LayerNorm(x) (pre-norm inside each residual branch). When ``stride > 1`` the
    conv branch is strided and the residual is the masked average over each window, and
    the block returns the downsampled mask and positional embedding, so its output is
    ``((x, pos_emb), mask)`` at the new rate, like any ESPnet block.
    """

    def __init__(
        self,
        size: int,
        self_attn: torch.nn.Module,
        feed_forward: torch.nn.Module,
        feed_forward_macaron: Optional[torch.nn.Module],
        conv_module: MaskedConvolutionModule,
        dropout_rate: float,
    ) -> None:
        super().__init__()
        self.self_attn = self_attn
        self.feed_forward = feed_forward
        self.feed_forward_macaron = feed_forward_macaron
        self.conv_module = conv_module
        self.stride = conv_module.stride
        self.ff_scale = 1.0 if feed_forward_macaron is None else 0.5
        if feed_forward_macaron is not None:
            self.norm_ff_macaron = LayerNorm(size)
        self.norm_mha = LayerNorm(size)
        self.norm_conv = LayerNorm(size)
        self.norm_ff = LayerNorm(size)
        self.norm_final = LayerNorm(size)
        self.dropout = torch.nn.Dropout(dropout_rate)

    def forward(
        self, x_input: Tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor
    ) -> Tuple[Tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """((batch, time, size), pos_emb), (batch, 1, time) -> same at time / stride."""
        x, pos_emb = x_input
        if self.feed_forward_macaron is not None:
            x = x + self.ff_scale * self.dropout(self.feed_forward_macaron(self.norm_ff_macaron(x)))
        y = self.norm_mha(x)
        x = x + self.dropout(self.self_attn(y, y, y, pos_emb, mask))

        y = self.conv_module(self.norm_conv(x), mask)
        if self.stride > 1:
            x = masked_window_mean(x, mask[:, 0], self.stride)
            mask = downsample_mask(mask, self.stride)
            pos_emb = downsample_rel_pos(pos_emb, self.stride)
        x = x + self.dropout(y)

        x = x + self.ff_scale * self.dropout(self.feed_forward(self.norm_ff(x)))
        return (self.norm_final(x), pos_emb), mask
