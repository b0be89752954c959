"""EfficientConformerEncoder on real speech features: invariance, lengths, errors, registry."""

import math
from pathlib import Path
from typing import Sequence, Tuple

import pytest
import torch
import yaml
from conftest import SMALL_ENCODER, pad_batch
from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError

import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer)
from espnet_qieemo.asr.encoder.block_outputs import BlockOutputCollector
from espnet_qieemo.asr.encoder.efficient_conformer_encoder import (
    EfficientConformerEncoder,
)
from espnet_qieemo.utils import chunking

TINY_SCORE_BUDGET = 4 * 64 * 80 * 3  # 3 frames a conv chunk, few query rows an attention chunk
PAPER_ASR_CONFIG = Path(__file__).parents[3] / "egs2/iemocap_qieemo/emo1/conf/train_asr_efficient_conformer.yaml"


def make_encoder(**overrides) -> EfficientConformerEncoder:
    torch.manual_seed(0)
    return EfficientConformerEncoder(80, **{**SMALL_ENCODER, **overrides}).eval()


def conv2d_frames(frames: int) -> int:
    """Frames after ESPnet's conv2d input layer (two valid 3x3 convs, stride 2)."""
    return ((frames - 1) // 2 - 1) // 2


@pytest.mark.parametrize("input_layer", ["conv2d", "conv2d6", "linear"])
def test_padded_batch_matches_single_utterances(speech_feats, input_layer):
    encoder = make_encoder(input_layer=input_layer)
    batch, lens = pad_batch(speech_feats)
    with torch.no_grad(), BlockOutputCollector(encoder) as batched:
        out, olens, _ = encoder(batch, lens)
    for i, feat in enumerate(speech_feats):
        with torch.no_grad(), BlockOutputCollector(encoder) as alone:
            single, single_lens, _ = encoder(feat[None], lens[i : i + 1])
        n = int(single_lens)
        assert int(olens[i]) == n == single.size(1)
        torch.testing.assert_close(out[i, :n], single[0], atol=1e-4, rtol=0)
        assert not out[i, n:].any(), "padding of the encoder output must be zero"
        for b, a in zip(batched.outputs, alone.outputs):
            m = int(a.lens)
            assert int(b.lens[i]) == m
            torch.testing.assert_close(b.hs[i, :m], a.hs[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("input_layer", ["conv2d", "conv2d6"])
def test_chunked_pass_equals_one_pass(monkeypatch, speech_feats, input_layer):
    """Bounded memory (conv input layer and attention in chunks) changes no block output."""
    encoder = make_encoder(input_layer=input_layer)
    batch, lens = pad_batch(speech_feats)
    with torch.no_grad(), BlockOutputCollector(encoder) as whole:
        want, want_lens, _ = encoder(batch, lens)
    monkeypatch.setattr(chunking, "SCORE_BUDGET", TINY_SCORE_BUDGET)
    with torch.no_grad(), BlockOutputCollector(encoder) as chunked:
        got, got_lens, _ = encoder(batch, lens)
    assert got_lens.tolist() == want_lens.tolist()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for a, b in zip(whole.outputs, chunked.outputs):
        torch.testing.assert_close(b.hs, a.hs, atol=1e-5, rtol=1e-5)


def test_lengths_and_block_frame_rates(speech_feats):
    encoder = make_encoder()
    batch, lens = pad_batch(speech_feats)
    with torch.no_grad(), BlockOutputCollector(encoder) as blocks:
        out, olens, _ = encoder(batch, lens)

    expected_rates = [1, 2, 2, 6, 6, 6]  # x2 after block 1, x3 after block 3
    assert encoder.block_frame_rates() == expected_rates
    assert [b.downsample for b in blocks.outputs] == expected_rates
    assert [b.stride for b in encoder.encoders] == [1, 2, 1, 3, 1, 1]
    base = torch.tensor([conv2d_frames(int(n)) for n in lens])
    for block, rate in zip(blocks.outputs, expected_rates):
        want = torch.tensor([math.ceil(int(n) / rate) for n in base])
        assert torch.equal(block.lens, want), (rate, block.lens, want)
        assert block.hs.size(1) == int(want.max())
    assert torch.equal(olens, blocks.outputs[-1].lens)
    assert out.shape == (len(speech_feats), int(olens.max()), 64)
    torch.testing.assert_close(out, blocks.outputs[-1].hs)


def test_too_short_input_raises_clear_error(speech_feats):
    encoder = make_encoder()
    assert encoder.min_input_frames == 7  # conv2d: 7 frames give one output frame
    with torch.no_grad():
        out, olens, _ = encoder(speech_feats[0][None, :7], torch.tensor([7]))
    assert out.shape == (1, 1, 64) and olens.tolist() == [1]

    batch, lens = pad_batch([speech_feats[0], speech_feats[1][:6]])
    with pytest.raises(TooShortUttError, match="6 frames.*at least 7"):
        encoder(batch, lens)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (dict(stride_layer_idx=[1, 3], stride=[2]), "stride_layer_idx"),
        (dict(stride=[2, 0]), "stride"),
        (dict(stride_layer_idx=[1, 6]), "stride_layer_idx"),
        (dict(group_size=0), "group_size"),
        (dict(group_size=-3), "group_size"),
        (dict(group_layer_idx=[0, 9]), "group_layer_idx"),
        (dict(input_layer="conv3d"), "input_layer"),
        (dict(attention_heads=3), "attention_heads"),
        (dict(cnn_module_kernel=8), "cnn_module_kernel"),
    ],
)
def test_bad_config_names_the_key(overrides, key):
    with pytest.raises(ValueError, match=rf"\b{key}="):
        make_encoder(**overrides)


def test_registered_in_espnet_asr_task():
    from espnet2.tasks.asr import encoder_choices

    assert encoder_choices.get_class("efficient_conformer") is EfficientConformerEncoder


def test_trains_end_to_end(speech_feats):
    """Training mode (dropout, batch norm) runs and every parameter gets a gradient."""
    encoder = make_encoder().train()
    batch, lens = pad_batch(speech_feats)
    out, olens, _ = encoder(batch, lens)
    out.pow(2).sum().backward()
    missing = [n for n, p in encoder.named_parameters() if p.grad is None]
    assert not missing, missing


def noise_feats(frames: Sequence[int] = (400, 283, 150)) -> Tuple[torch.Tensor, torch.Tensor]:
    """Random features of several lengths: the GPU machine has no corpora."""
    gen = torch.Generator().manual_seed(0)
    return pad_batch([torch.randn(n, 80, generator=gen) for n in frames])


@pytest.mark.cuda
@pytest.mark.parametrize("chunked", [False, True])
def test_cuda_forward_equals_cpu(monkeypatch, cuda_fp32, chunked):
    """Every block gives the CPU's output on the GPU, also with the conv layer and attention chunked."""
    encoder = make_encoder()
    feats, lens = noise_feats()
    with torch.no_grad(), BlockOutputCollector(encoder) as cpu:
        want, want_lens, _ = encoder(feats, lens)
    if chunked:
        monkeypatch.setattr(chunking, "SCORE_BUDGET", TINY_SCORE_BUDGET)
    encoder.to(cuda_fp32)
    with torch.no_grad(), BlockOutputCollector(encoder) as gpu:
        got, got_lens, _ = encoder(feats.to(cuda_fp32), lens.to(cuda_fp32))
    assert got.is_cuda and got_lens.tolist() == want_lens.tolist()
    torch.testing.assert_close(got.cpu(), want, atol=1e-4, rtol=1e-4)
    for a, b in zip(cpu.outputs, gpu.outputs):
        torch.testing.assert_close(b.hs.cpu(), a.hs, atol=1e-4, rtol=1e-4)


@pytest.mark.cuda
def test_cuda_bf16_autocast_forward_of_paper_size_encoder_is_finite_and_near_fp32():
    conf = yaml.safe_load(PAPER_ASR_CONFIG.read_text())["encoder_conf"]
    torch.manual_seed(0)
    encoder = EfficientConformerEncoder(80, **conf).eval().cuda()
    feats, lens = (t.cuda() for t in noise_feats())
    with torch.no_grad():
        want, want_lens, _ = encoder(feats, lens)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got, got_lens, _ = encoder(feats, lens)
    # CUDA's autocast runs the closing LayerNorm in fp32, so the output dtype says nothing: the
    # blocks ran in bf16 when the output differs from fp32's
    assert torch.isfinite(got).all() and not torch.equal(got.float(), want)
    assert got_lens.tolist() == want_lens.tolist()
    # bf16 keeps 8 bits of mantissa: about 1 % off after 12 blocks (1.1 % on the CPU's autocast)
    assert (got.float() - want).norm() / want.norm() < 0.05
