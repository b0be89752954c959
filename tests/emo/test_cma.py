import math

import pytest
import torch

from espnet_qieemo.emo.cma import FORMS, CrossModalAttention


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


def test_literal_form_keeps_the_parameters_of_earlier_checkpoints():
    """The reference form has exactly W_Q, W_K, W_V, so models trained before the forms load strictly."""
    torch.manual_seed(0)
    cma = CrossModalAttention(query_size=6, ppg_size=5, attention_dim=4)
    assert cma.form == "literal" and set(cma.state_dict()) == {"w_q.weight", "w_k.weight", "w_v.weight"}
    again = CrossModalAttention(query_size=6, ppg_size=5, attention_dim=4, form="literal")
    again.load_state_dict(cma.state_dict(), strict=True)
    emo, ppg, lens = torch.randn(1, 7, 6), torch.randn(1, 9, 5), torch.tensor([7])
    assert torch.equal(cma(emo, lens, ppg, torch.tensor([9]))[0], again(emo, lens, ppg, torch.tensor([9]))[0])


@pytest.mark.parametrize("form", [f for f in FORMS if f != "literal"])
def test_forms_let_e_through_and_mask_padding(form):
    torch.manual_seed(0)
    cma = CrossModalAttention(query_size=6, ppg_size=5, attention_dim=8, form=form, num_heads=2)
    emo, ppg = torch.randn(2, 7, 6, requires_grad=True), torch.randn(2, 9, 5)
    emo_lens, ppg_lens = torch.tensor([7, 4]), torch.tensor([9, 6])
    out, _ = cma(emo, emo_lens, ppg, ppg_lens)
    assert out.shape == (2, 7, cma.output_size())
    assert out[1, 4:].abs().max() == 0
    # each utterance alone gives the same frames as inside the padded batch
    for i in range(2):
        e, p = emo[i : i + 1, : emo_lens[i]], ppg[i : i + 1, : ppg_lens[i]]
        alone, _ = cma(e, emo_lens[i : i + 1], p, ppg_lens[i : i + 1])
        torch.testing.assert_close(alone[0], out[i, : emo_lens[i]], atol=1e-5, rtol=1e-5)
    # E reaches the output directly, not only through near-uniform attention weights
    (out[0, :7] * torch.randn(7, cma.output_size())).sum().backward()  # (a plain sum is flat under LayerNorm)
    direct = emo.grad[0].abs().mean()
    assert direct > 0.05, direct


def test_multihead_is_the_equations_per_head_then_w_o():
    torch.manual_seed(0)
    cma = CrossModalAttention(query_size=8, ppg_size=5, attention_dim=8, form="multihead", num_heads=2)
    emo, ppg = torch.randn(1, 6, 8), torch.randn(1, 9, 5)
    out, _ = cma(emo, torch.tensor([6]), ppg, torch.tensor([9]))
    q, k, v = emo[0] @ cma.w_q.weight.T, ppg[0] @ cma.w_k.weight.T, ppg[0] @ cma.w_v.weight.T
    heads = []
    for h in range(2):
        s = slice(4 * h, 4 * h + 4)
        q_att = torch.relu(torch.softmax(q[:, s] @ k[:, s].T / 2.0, -1) @ v[:, s])
        heads.append(torch.relu(torch.softmax(q_att @ k[:, s].T / 2.0, -1) @ v[:, s]))
    want = cma.norm(emo[0] + cma.w_o(torch.cat(heads, -1)))  # same size: identity skip
    torch.testing.assert_close(out[0], want, atol=1e-5, rtol=1e-5)


def test_unknown_form_is_named():
    with pytest.raises(ValueError, match="attention_conf.form='sum'"):
        CrossModalAttention(query_size=6, ppg_size=5, form="sum")
