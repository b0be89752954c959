"""The guard makes ESPnet's own conformer give each utterance in a padded batch its lone result."""

import torch

from espnet_qieemo._offline import no_nltk_downloads
from espnet_qieemo.utils.padding_guard import PaddingGuard

with no_nltk_downloads():
    from espnet2.asr.encoder.conformer_encoder import ConformerEncoder


def _encode(encoder, feats, lens):
    with torch.no_grad():
        out, olens, _ = encoder(feats, lens)
    return out, olens


def test_padded_batch_equals_each_utterance_alone():
    torch.manual_seed(0)
    encoder = ConformerEncoder(
        20,
        output_size=32,
        attention_heads=2,
        linear_units=64,
        num_blocks=2,
        input_layer="conv2d",
        rel_pos_type="latest",
        pos_enc_layer_type="rel_pos",
        selfattention_layer_type="rel_selfattn",
        cnn_module_kernel=7,
    ).eval()
    lens = torch.tensor([90, 61])  # 61 frames: the sliced subsampling mask overcounts by one
    feats = torch.randn(2, 90, 20) * (torch.arange(90)[None, :, None] < lens[:, None, None])
    alone, alone_len = _encode(encoder, feats[1:, :61], lens[1:])
    unguarded, unguarded_lens = _encode(encoder, feats, lens)
    with PaddingGuard(encoder):
        guarded, guarded_lens = _encode(encoder, feats, lens)
    n = int(alone_len[0])
    assert int(unguarded_lens[1]) != n  # without the guard the batch disagrees ...
    assert int(guarded_lens[1]) == n  # ... with it, lengths and values match
    torch.testing.assert_close(guarded[1, :n], alone[0, :n], atol=1e-5, rtol=0)
    torch.testing.assert_close(guarded[0], unguarded[0], atol=1e-5, rtol=0)  # the longest is untouched
