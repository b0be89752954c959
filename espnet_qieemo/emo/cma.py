"""Cross-modal attention (paper II.C, eqs. 6-8): emotion features attend to the PPG twice.

Q = W_Q E, K = W_K h^l, V = W_V h^l
Q_att = ReLU(softmax(Q K^T / sqrt(d)) V)          (eq. 7)
O     = ReLU(softmax(Q_att K^T / sqrt(d)) V)      (eq. 8)

Both steps share K and V, so the second one re-reads the PPG with a query that already
carries what the first step found. Padded PPG frames are masked out of every softmax.
Queries are taken in row chunks, so a long recording never holds a full Te x Tk matrix.
"""
import math
from typing import Tuple

import torch

from espnet_qieemo.utils.masks import valid_mask
from espnet_qieemo.utils.chunking import row_chunks


def masked_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v with keys outside ``key_mask`` (B, Tk) given no weight."""
    invalid = ~key_mask.unsqueeze(1)
    contexts = []
    for rows in row_chunks(q.size(1), q.size(0) * k.size(1) * 2):
        scores = torch.matmul(q[:, rows], k.transpose(-1, -2)) / math.sqrt(q.size(-1))
        scores = scores.masked_fill(invalid, float("-inf"))
        contexts.append(torch.matmul(torch.softmax(scores, dim=-1), v))
    return torch.cat(contexts, dim=1)


class CrossModalAttention(torch.nn.Module):
    """CMA with queries from E (emotion features) and keys/values from h^l (PPG)."""

    def __init__(self, query_size: int, ppg_size: int, attention_dim: int = 256) -> None:
        super().__init__()
        self.w_q = torch.nn.Linear(query_size, attention_dim, bias=False)
        self.w_k = torch.nn.Linear(ppg_size, attention_dim, bias=False)
        self.w_v = torch.nn.Linear(ppg_size, attention_dim, bias=False)
        self.attention_dim = attention_dim

    def output_size(self) -> int:
        return self.attention_dim

    def forward(
        self,
        emo: torch.Tensor,
        emo_lens: torch.Tensor,
        ppg: torch.Tensor,
        ppg_lens: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, Te, Dq) emotion features and (B, Tk, Dk) PPG -> (O (B, Te, d), emo_lens)."""
        ppg = ppg[:, : int(ppg_lens.max())]
        key_mask = valid_mask(ppg_lens, ppg.size(1))
        q, k, v = self.w_q(emo), self.w_k(ppg), self.w_v(ppg)
        q_att = torch.relu(masked_attention(q, k, v, key_mask))
        out = torch.relu(masked_attention(q_att, k, v, key_mask))
        out = out.masked_fill(~valid_mask(emo_lens, out.size(1)).unsqueeze(-1), 0.0)
        return out, emo_lens
