import math

import torch

from espnet_qieemo.emo.cma import CrossModalAttention


def eqs_6_to_8(cma: CrossModalAttention, emo: torch.Tensor, ppg: torch.Tensor) -> torch.Tensor:
    """The paper's equations for one unpadded utterance, written out directly."""
    q = emo @ cma.w_q.weight.T
    k = ppg @ cma.w_k.weight.T
    v = ppg @ cma.w_v.weight.T
    d = q.size(-1)
    q_att = torch.relu(torch.softmax(q @ k.T / math.sqrt(d), dim=-1) @ v)
    return torch.relu(torch.softmax(q_att @ k.T / math.sqrt(d), dim=-1) @ v)


def test_cma_matches_equations_and_masks_padded_keys():
    torch.manual_seed(0)
    cma = CrossModalAttention(query_size=6, ppg_size=5, attention_dim=4)
    emo, ppg = torch.randn(2, 7, 6), torch.randn(2, 9, 5)
    emo_lens, ppg_lens = torch.tensor([7, 4]), torch.tensor([9, 6])
    out, out_lens = cma(emo, emo_lens, ppg, ppg_lens)
    assert out.shape == (2, 7, 4) and out_lens.tolist() == [7, 4]
    for i in range(2):
        e, p = emo[i, : emo_lens[i]], ppg[i, : ppg_lens[i]]
        assert torch.allclose(out[i, : emo_lens[i]], eqs_6_to_8(cma, e, p), atol=1e-6)
    assert out[1, 4:].abs().max() == 0
    # whatever sits in the PPG padding has no effect
    ppg[1, 6:] = 100.0
    again, _ = cma(emo, emo_lens, ppg, ppg_lens)
    assert torch.allclose(again, out)


def test_cma_in_query_chunks_equals_one_pass(monkeypatch):
    from espnet_qieemo.utils import chunking

    torch.manual_seed(0)
    cma = CrossModalAttention(query_size=6, ppg_size=5, attention_dim=4)
    emo, ppg = torch.randn(2, 50, 6), torch.randn(2, 50, 5)
    lens = torch.tensor([50, 31])
    want, _ = cma(emo, lens, ppg, lens)
    monkeypatch.setattr(chunking, "SCORE_BUDGET", 2 * 50 * 2 * 7)  # 7 query rows per chunk
    got, _ = cma(emo, lens, ppg, lens)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
