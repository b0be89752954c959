import pytest
import torch

from espnet_qieemo.asr.encoder.block_outputs import BlockOutput
from espnet_qieemo.emo.mmf import (
    LastLayerFusion,
    MultiBlockFusion,
    WeightedSumFusion,
    align_to_rate,
)


def random_blocks(num: int, lens, dim: int = 8, downsample=None):
    """Blocks whose padding is zero, as BlockOutputCollector hands them out."""
    torch.manual_seed(0)
    lens = torch.tensor(lens)
    out = []
    for i in range(num):
        ds = 1 if downsample is None else downsample[i]
        blk_lens = (lens + ds - 1) // ds
        hs = torch.randn(len(lens), int(blk_lens.max()), dim)
        hs = hs * (torch.arange(hs.size(1))[None, :, None] < blk_lens[:, None, None])
        out.append(BlockOutput(hs, blk_lens, ds))
    return out


def test_mmf_block_weights_get_gradients_move_and_change_output():
    fusion = MultiBlockFusion(input_size=8, num_encoder_blocks=6, num_blocks=4, output_size=16)
    blocks = random_blocks(6, [10, 7])
    optim = torch.optim.Adam(fusion.parameters(), lr=0.05)
    before = fusion.block_weights.detach().clone()
    for _ in range(3):
        optim.zero_grad()
        out, lens = fusion(blocks)
        (out * torch.linspace(-1, 1, out.size(-1))).sum().backward()
        assert fusion.block_weights.grad.abs().sum() > 0
        optim.step()
    assert not torch.allclose(fusion.block_weights, before)

    fusion.eval()
    with torch.no_grad():
        ref, _ = fusion(blocks)
        fusion.block_weights[0] += 2.0
        changed, _ = fusion(blocks)
    assert (ref - changed).abs().max() > 1e-3


def test_weighted_sum_uses_softmax_weights_of_last_blocks():
    fusion = WeightedSumFusion(input_size=8, num_encoder_blocks=5, num_blocks=3)
    with torch.no_grad():
        fusion.block_weights.copy_(torch.tensor([0.5, -1.0, 2.0]))
    blocks = random_blocks(5, [6, 4])
    out, lens = fusion(blocks)
    w = torch.softmax(torch.tensor([0.5, -1.0, 2.0]), 0)
    expected = sum(w[i] * blocks[2 + i].hs for i in range(3))
    assert torch.allclose(out, expected, atol=1e-6)
    assert lens.tolist() == [6, 4]


def test_last_layer_is_the_ppg():
    blocks = random_blocks(3, [6, 4])
    out, _ = LastLayerFusion(input_size=8, num_encoder_blocks=3)(blocks)
    assert torch.equal(out, blocks[-1].hs)


def test_fewer_encoder_blocks_than_asked_is_an_error():
    with pytest.raises(ValueError, match="last 6 encoder blocks, but the encoder has only 4"):
        MultiBlockFusion(input_size=8, num_encoder_blocks=4, num_blocks=6)


def test_faster_block_is_averaged_over_valid_frames_only():
    fast, slow = random_blocks(2, [7, 4], downsample=[1, 2])
    aligned = align_to_rate(fast, slow)
    assert aligned.shape == slow.hs.shape
    # utterance 0 has 7 frames at the fast rate: windows {0,1} {2,3} {4,5} {6}
    expected = torch.stack([fast.hs[0, 2 * t : min(2 * t + 2, 7)].mean(0) for t in range(4)])
    assert torch.allclose(aligned[0], expected, atol=1e-6)
    # utterance 1 (4 fast frames -> 2 slow frames) is the same alone as in the padded batch
    alone = align_to_rate(
        BlockOutput(fast.hs[1:, :4], fast.lens[1:], 1), BlockOutput(slow.hs[1:, :2], slow.lens[1:], 2)
    )
    assert torch.allclose(aligned[1, :2], alone[0], atol=1e-6)
    assert aligned[1, 2:].abs().max() == 0


def test_mmf_output_is_padding_independent():
    fusion = MultiBlockFusion(input_size=8, num_encoder_blocks=3, num_blocks=3, output_size=16).eval()
    blocks = random_blocks(3, [9, 5], downsample=[1, 2, 2])
    batch, _ = fusion(blocks)
    alone_blocks = [BlockOutput(b.hs[1:, : int(b.lens[1])], b.lens[1:], b.downsample) for b in blocks]
    alone, lens = fusion(alone_blocks)
    assert torch.allclose(batch[1, : int(lens[0])], alone[0], atol=1e-5)
