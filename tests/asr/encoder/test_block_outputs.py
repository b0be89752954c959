"""BlockOutputCollector on the efficient conformer and on ESPnet's own ConformerEncoder."""

import torch
from conftest import SMALL_ENCODER, pad_batch

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.asr.encoder.block_outputs import BlockOutputCollector
from espnet_qieemo.asr.encoder.efficient_conformer_encoder import (
    EfficientConformerEncoder,
)

with no_nltk_downloads():
    from espnet2.asr.encoder.conformer_encoder import ConformerEncoder


def collect(encoder, feats):
    batch, lens = pad_batch(feats)
    with torch.no_grad(), BlockOutputCollector(encoder) as blocks:
        out, olens, _ = encoder(batch, lens)
    return out, olens, blocks.outputs


def test_efficient_conformer_blocks(speech_feats):
    torch.manual_seed(0)
    encoder = EfficientConformerEncoder(80, **SMALL_ENCODER).eval()
    out, olens, outputs = collect(encoder, speech_feats)
    assert len(outputs) == SMALL_ENCODER["num_blocks"]
    assert [o.downsample for o in outputs] == [1, 2, 2, 6, 6, 6]
    for prev, cur in zip(outputs, outputs[1:]):
        rate = cur.downsample // prev.downsample
        assert torch.equal(cur.lens, (prev.lens + rate - 1) // rate)
    # the last block is the encoder output (no extra norm after the blocks)
    assert torch.equal(outputs[-1].lens, olens)
    torch.testing.assert_close(outputs[-1].hs, out)
    # hooks are removed on exit: a later forward records nothing more
    encoder(*pad_batch(speech_feats))
    assert len(outputs) == SMALL_ENCODER["num_blocks"]


def test_espnet_conformer_blocks(speech_feats):
    torch.manual_seed(0)
    encoder = ConformerEncoder(
        80,
        output_size=64,
        attention_heads=4,
        linear_units=128,
        num_blocks=6,
        rel_pos_type="latest",
        pos_enc_layer_type="rel_pos",
        selfattention_layer_type="rel_selfattn",
        macaron_style=True,
        cnn_module_kernel=7,
    ).eval()
    out, olens, outputs = collect(encoder, speech_feats)
    assert len(outputs) == 6
    assert [o.downsample for o in outputs] == [1] * 6
    for o in outputs:
        assert torch.equal(o.lens, olens)
        assert o.hs.shape == out.shape
        # padding zeroed by the collector
        for i, n in enumerate(olens.tolist()):
            assert not o.hs[i, n:].any()
    # ESPnet normalises the last block's output once more
    normed = encoder.after_norm(outputs[-1].hs)
    for i, n in enumerate(olens.tolist()):
        torch.testing.assert_close(normed[i, :n], out[i, :n])
