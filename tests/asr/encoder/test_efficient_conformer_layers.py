"""The efficient conformer's layers against ESPnet's own modules and plain arithmetic."""

import pytest
import torch
from espnet.nets.pytorch_backend.transformer.attention import (
    RelPositionMultiHeadedAttention,
)
from espnet.nets.pytorch_backend.transformer.embedding import RelPositionalEncoding

from espnet_qieemo.asr.encoder.efficient_conformer_layers import (
    ChunkedRelPositionMultiHeadedAttention,
    GroupedRelPositionMultiHeadedAttention,
    downsample_rel_pos,
)


def lengths_mask(lens, time):
    return (torch.arange(time)[None, :] < torch.tensor(lens)[:, None])[:, None, :]


def test_group_size_one_equals_espnet_rel_attention(speech_feats):
    torch.manual_seed(0)
    espnet_attn = RelPositionMultiHeadedAttention(4, 80, 0.0).eval()
    grouped = GroupedRelPositionMultiHeadedAttention(4, 80, 0.0, group_size=1).eval()
    grouped.load_state_dict(espnet_attn.state_dict())
    x = torch.nn.utils.rnn.pad_sequence(speech_feats, batch_first=True)
    x, pos_emb = RelPositionalEncoding(80, 0.0)(x)
    mask = lengths_mask([f.size(0) for f in speech_feats], x.size(1))
    with torch.no_grad():
        want = espnet_attn(x, x, x, pos_emb, mask)
        got = grouped(x, x, x, pos_emb, mask)
    valid = mask.transpose(1, 2).expand_as(got)  # outputs at padded frames are unused
    torch.testing.assert_close(got[valid], want[valid], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("budget", [None, 4 * 4 * 2 * 100 * 9])  # one chunk / 9 rows a chunk
def test_chunked_attention_equals_espnet_rel_attention(monkeypatch, speech_feats, budget):
    """Same output and same gradients as ESPnet's module, whole or in query chunks."""
    from espnet_qieemo.utils import chunking

    if budget is not None:
        monkeypatch.setattr(chunking, "SCORE_BUDGET", budget)
    torch.manual_seed(0)
    espnet_attn = RelPositionMultiHeadedAttention(4, 80, 0.0)
    chunked = ChunkedRelPositionMultiHeadedAttention(4, 80, 0.0)
    chunked.load_state_dict(espnet_attn.state_dict())
    x = torch.nn.utils.rnn.pad_sequence(speech_feats, batch_first=True)
    x, pos_emb = RelPositionalEncoding(80, 0.0)(x)
    mask = lengths_mask([f.size(0) for f in speech_feats], x.size(1))
    want = espnet_attn(x, x, x, pos_emb, mask)
    got = chunked(x, x, x, pos_emb, mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (chunked.attn is None) == (budget is not None)  # weights kept only when whole
    want.square().sum().backward()
    got.square().sum().backward()
    scale = max(p.grad.abs().max() for p in espnet_attn.parameters())  # raw log-mels: ~1e7
    for (name, a), b in zip(espnet_attn.named_parameters(), chunked.parameters()):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-6 * scale, rtol=0, msg=name)


def test_grouped_attention_in_chunks_equals_one_pass(monkeypatch, speech_feats):
    from espnet_qieemo.utils import chunking

    torch.manual_seed(0)
    attn = GroupedRelPositionMultiHeadedAttention(4, 80, 0.0, group_size=3).eval()
    x = torch.nn.utils.rnn.pad_sequence(speech_feats, batch_first=True)
    x, pos_emb = RelPositionalEncoding(80, 0.0)(x)
    mask = lengths_mask([f.size(0) for f in speech_feats], x.size(1))
    with torch.no_grad():
        want = attn(x, x, x, pos_emb, mask)
        monkeypatch.setattr(chunking, "SCORE_BUDGET", 4 * 4 * 2 * 33 * 4)  # 4 groups a chunk
        got = attn(x, x, x, pos_emb, mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_grouped_attention_is_blind_to_trailing_padding(speech_feats):
    """A partial last group gives the same output whatever padding follows it."""
    torch.manual_seed(0)
    attn = GroupedRelPositionMultiHeadedAttention(4, 80, 0.0, group_size=3).eval()
    feat = speech_feats[-1][:43]  # 43 = 14 groups of 3 + 1 frame
    padded = torch.cat([feat, torch.randn(5, 80)])[None]  # garbage padding
    pe = RelPositionalEncoding(80, 0.0)
    with torch.no_grad():
        x, pos_emb = pe(feat[None])
        alone = attn(x, x, x, pos_emb, None)
        x, pos_emb = pe(padded)
        batched = attn(x, x, x, pos_emb, lengths_mask([43], 48))
    torch.testing.assert_close(batched[0, :43], alone[0], atol=1e-5, rtol=1e-5)


def test_downsampled_rel_pos_keeps_time_distances():
    pe = RelPositionalEncoding(8, 0.0)
    _, pos_emb = pe(torch.zeros(1, 10, 8))  # distances 9 .. -9
    strided = downsample_rel_pos(pos_emb, 3)  # 4 frames: distances 3*(3 .. -3)
    assert strided.size(1) == 2 * 4 - 1
    torch.testing.assert_close(strided[0], pos_emb[0, 0:19:3])
