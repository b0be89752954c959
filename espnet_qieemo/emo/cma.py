"""Cross-modal attention (paper II.C, eqs. 6-8): emotion features attend to the PPG twice.

Q = W_Q E, K = W_K h^l, V = W_V h^l
Q_att = ReLU(softmax(Q K^T / sqrt(d)) V)          (eq. 7)
O     = ReLU(softmax(Q_att K^T / sqrt(d)) V)      (eq. 8)

Both steps share K and V, so the second one re-reads the PPG with a query that already
carries what the first step found. Padded PPG frames are masked out of every softmax.
Queries are taken in row chunks, so a long recording never holds a full Te x Tk matrix.

Taken literally (``form: literal``), O is a mix of projected PPG values only: at
initialisation the attention is near uniform, O hardly depends on E, and MMF gets about
1/700 of the gradient it gets without CMA. The paper's ablation has CMA helping, so its
implementation must let E through somewhere; the other forms are ways of doing that:

- ``residual``: LayerNorm(P E + O), P a projection where the sizes differ (else identity);
- ``concat``: [E ; O] on every frame, so the pooled vector is [mean E ; mean O];
- ``multihead``: the two steps per head, an output projection W_O, then as ``residual``;
- ``gated``: g = sigmoid(W_g [P E ; O]), output g * O + (1 - g) * P E, then LayerNorm.
"""

import math
from typing import Optional, Tuple

import torch

from espnet_qieemo.utils.chunking import row_chunks
from espnet_qieemo.utils.masks import valid_mask

FORMS = ("literal", "residual", "concat", "multihead", "gated")


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with keys outside ``key_mask`` (B, Tk) given no weight."""
    invalid = ~key_mask.unsqueeze(1)
    contexts = []
    for rows in row_chunks(q.size(1), q.size(0) * k.size(1) * 2):
        scores = torch.matmul(q[:, rows], k.transpose(-1, -2)) / math.sqrt(q.size(-1))
        scores = scores.masked_fill(invalid, float("-inf"))
        contexts.append(torch.matmul(torch.softmax(scores, dim=-1), v))
    return torch.cat(contexts, dim=1)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, H*d) -> (B*H, T, d)."""
    b, t, _ = x.shape
    return x.view(b, t, heads, -1).transpose(1, 2).reshape(b * heads, t, -1)


def merge_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B*H, T, d) -> (B, T, H*d)."""
    bh, t, d = x.shape
    return x.view(bh // heads, heads, t, d).transpose(1, 2).reshape(bh // heads, t, heads * d)


class CrossModalAttention(torch.nn.Module):
    """CMA with queries from E (emotion features) and keys/values from h^l (PPG).

    ``form`` picks how E and the attended PPG O are combined (see the module docstring);
    ``literal`` is the paper's eqs. 6-8 and returns O alone. ``num_heads`` applies to
    ``multihead`` only.
    """

    def __init__(
        self,
        query_size: int,
        ppg_size: int,
        attention_dim: int = 256,
        form: str = "literal",
        num_heads: int = 4,
    ) -> None:
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"attention_conf.form={form!r}: expected one of {FORMS}")
        self.form = form
        self.heads = num_heads if form == "multihead" else 1
        if attention_dim % self.heads:
            raise ValueError(f"attention_conf: attention_dim {attention_dim} is not divisible by num_heads {num_heads}")
        self.w_q = torch.nn.Linear(query_size, attention_dim, bias=False)
        self.w_k = torch.nn.Linear(ppg_size, attention_dim, bias=False)
        self.w_v = torch.nn.Linear(ppg_size, attention_dim, bias=False)
        self.attention_dim = attention_dim
        self.query_size = query_size
        self.w_o = torch.nn.Linear(attention_dim, attention_dim) if form == "multihead" else None
        mixes = form in ("residual", "multihead", "gated")
        self.skip: Optional[torch.nn.Module] = None
        if mixes:
            same = query_size == attention_dim
            self.skip = torch.nn.Identity() if same else torch.nn.Linear(query_size, attention_dim)
        self.gate = torch.nn.Linear(2 * attention_dim, attention_dim) if form == "gated" else None
        self.norm = torch.nn.LayerNorm(attention_dim) if mixes else None

    def output_size(self) -> int:
        return self.query_size + self.attention_dim if self.form == "concat" else self.attention_dim

    def attend(self, emo: torch.Tensor, ppg: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Eqs. 6-8 (per head for ``multihead``): O, (B, Te, attention_dim)."""
        q, k, v = self.w_q(emo), self.w_k(ppg), self.w_v(ppg)
        if self.heads > 1:
            q, k, v = (split_heads(x, self.heads) for x in (q, k, v))
            key_mask = key_mask.repeat_interleave(self.heads, dim=0)
        q_att = torch.relu(masked_attention(q, k, v, key_mask))
        out = torch.relu(masked_attention(q_att, k, v, key_mask))
        return merge_heads(out, self.heads) if self.heads > 1 else out

    def combine(self, emo: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Let E through next to O, as the chosen form says."""
        if self.form == "literal":
            return out
        if self.form == "concat":
            return torch.cat([emo, out], dim=-1)
        if self.w_o is not None:
            out = self.w_o(out)
        skip = self.skip(emo)
        if self.gate is not None:
            g = torch.sigmoid(self.gate(torch.cat([skip, out], dim=-1)))
            return self.norm(g * out + (1 - g) * skip)
        return self.norm(skip + out)

    def forward(
        self,
        emo: torch.Tensor,
        emo_lens: torch.Tensor,
        ppg: torch.Tensor,
        ppg_lens: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, Te, Dq) emotion features and (B, Tk, Dk) PPG -> ((B, Te, output_size), emo_lens)."""
        ppg = ppg[:, : int(ppg_lens.max())]
        key_mask = valid_mask(ppg_lens, ppg.size(1))
        out = self.combine(emo, self.attend(emo, ppg, key_mask))
        out = out.masked_fill(~valid_mask(emo_lens, out.size(1)).unsqueeze(-1), 0.0)
        return out, emo_lens
