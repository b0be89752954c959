from typing import Dict, List, Sequence, Tuple

import pytest
import torch
from emo_helpers import pad_batch

from espnet_qieemo.emo.cma import FORMS
from espnet_qieemo.emo.espnet_model import RecallTally
from espnet_qieemo.emo.preprocessor import EmotionPreprocessor


def attention_options(attention: str) -> list:
    """'none' or 'cma:<form>' as command-line options."""
    if attention == "none":
        return ["--attention", "none"]
    return ["--attention", "cma", "--attention_conf", f"form={attention.split(':')[1]}"]


def fusion_grad_norm(model, waves) -> float:
    """Norm of the gradient reaching MMF's parameters from one training loss."""
    batch, lens = pad_batch(waves)
    model.zero_grad()
    model(batch, lens, torch.tensor([1, 0, 2]))[0].backward()
    return float(torch.cat([p.grad.flatten() for p in model.fusion.parameters()]).norm())


@pytest.mark.parametrize("attention", ["none", *(f"cma:{form}" for form in FORMS)])
def test_logits_alone_equal_logits_in_padded_batch(build_model, emodb_waves, attention):
    model = build_model(*attention_options(attention)).eval()
    waves = [w for _, w in emodb_waves]
    batch, lens = pad_batch(waves)
    with torch.no_grad():
        batched = model.classify(batch, lens)
        alone = torch.cat([model.classify(w[None], torch.tensor([len(w)])) for w in waves])
    assert batched.shape == (3, 4)
    assert torch.allclose(batched, alone, atol=1e-4), (batched - alone).abs().max()


def test_block_weights_get_gradients_and_move(build_model, emodb_waves):
    model = build_model("--model_conf", "freeze_encoder_steps=0")
    batch, lens = pad_batch([w for _, w in emodb_waves])
    target = torch.tensor([[1], [0], [2]])
    before = model.fusion.block_weights.detach().clone()
    optim = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        optim.zero_grad()
        loss, stats, weight = model(batch, lens, target)
        loss.backward()
        assert model.fusion.block_weights.grad.abs().sum() > 0
        optim.step()
    assert not torch.allclose(model.fusion.block_weights, before)
    assert set(stats) == {"loss", "acc"} and int(weight) == 3


@pytest.mark.parametrize("attention, min_change", [("none", 1e-3), ("cma", 0.0)])
def test_changing_block_weights_changes_the_logits(build_model, emodb_waves, attention, min_change):
    """Through CMA, E only steers the attention weights, which are near uniform at init."""
    model = build_model("--attention", attention).eval()
    batch, lens = pad_batch([w for _, w in emodb_waves])
    with torch.no_grad():
        ref = model.classify(batch, lens)
        model.fusion.block_weights.copy_(torch.tensor([5.0, 0, 0, 0, 0, -5.0]))
        assert (model.classify(batch, lens) - ref).abs().max() > min_change


@pytest.mark.parametrize("form", [f for f in FORMS if f != "literal"])
def test_every_non_literal_form_passes_mmf_a_gradient_like_no_cma(build_model, emodb_waves, form):
    """At initialisation the MMF gradient through CMA is within 10x of the no-CMA model's."""
    waves = [w for _, w in emodb_waves]
    opts = ("--model_conf", "freeze_encoder_steps=0", "--specaug", "none")
    reference = fusion_grad_norm(build_model(*opts, "--attention", "none").eval(), waves)
    got = fusion_grad_norm(build_model(*opts, *attention_options(f"cma:{form}")).eval(), waves)
    assert reference / 10 <= got <= reference * 10, (form, got, reference)


def test_literal_form_starves_mmf_of_gradient(build_model, emodb_waves):
    """The reason for the other forms: through eqs. 7-8 alone MMF gets far less gradient."""
    waves = [w for _, w in emodb_waves]
    opts = ("--model_conf", "freeze_encoder_steps=0", "--specaug", "none")
    reference = fusion_grad_norm(build_model(*opts, "--attention", "none").eval(), waves)
    literal = fusion_grad_norm(build_model(*opts, *attention_options("cma:literal")).eval(), waves)
    assert literal < reference / 10, (literal, reference)


def test_class_weights_enter_the_cross_entropy(build_model, emodb_waves):
    weights = [1.0, 2.0, 0.5, 3.0]
    model = build_model("--model_conf", f"class_weights={weights}").eval()
    batch, lens = pad_batch([w for _, w in emodb_waves])
    target = torch.tensor([1, 3, 2])
    with torch.no_grad():
        loss, stats, _ = model(batch, lens, target)
        logits = model.classify(batch, lens)
    expected = torch.nn.functional.cross_entropy(logits, target, weight=torch.tensor(weights))
    assert torch.allclose(loss, expected, atol=1e-5)
    assert float(stats["acc"]) == float((logits.argmax(-1) == target).float().mean())


def test_reported_stats_add_up_over_shards_as_ddp_combines_them(build_model, emodb_waves):
    """Under DDP, ESPnet averages each rank's stats weighted by its shard size: with class
    weights the reported loss (and acc) of a batch dealt to two ranks must equal the whole
    batch's, also for an uneven split (2 + 1)."""
    weights = torch.tensor([1.0, 2.0, 0.5, 3.0])
    model = build_model("--model_conf", f"class_weights={weights.tolist()}").eval()
    waves = [w for _, w in emodb_waves]
    target = torch.tensor([1, 3, 2])
    with torch.no_grad():
        _, whole, n = model(*pad_batch(waves), target)
        shards = [model(*pad_batch(waves[s]), target[s]) for s in (slice(0, 2), slice(2, 3))]
        logits = model.classify(*pad_batch(waves))
    assert n.shape == (1,) and all(v.shape == (1,) for v in whole.values())  # ESPnet's gatherable form
    per_utt = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(whole["loss"], (weights[target] * per_utt).mean(), atol=1e-5)
    for key in ("loss", "acc"):
        combined = sum(stats[key] * k for _, stats, k in shards) / sum(k for _, _, k in shards)
        assert torch.allclose(combined, whole[key], atol=1e-4), (key, combined, whole[key])


def test_encoder_is_frozen_for_the_first_steps(build_model, emodb_waves):
    model = build_model("--model_conf", "freeze_encoder_steps=1").train()
    batch, lens = pad_batch([w for _, w in emodb_waves[:2]])
    target = torch.tensor([0, 1])
    grads = []
    for _ in range(2):
        model.zero_grad()
        model(batch, lens, target)[0].backward()
        grads.append([p.grad for p in model.encoder.parameters()])
        assert model.fusion.block_weights.grad is not None
    assert model.encoder.training  # back in train mode after the frozen (dropout-free) pass
    assert all(g is None for g in grads[0])
    assert any(g is not None and g.abs().sum() > 0 for g in grads[1])
    assert int(model.num_updates) == 2


def test_recall_tally_is_mean_per_class_recall_over_all_batches():
    tally = RecallTally(3)
    tally.add(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1]))
    tally.add(torch.tensor([2, 2]), torch.tensor([2, 0]))
    # recalls 2/3, 1/1, 1/2 -> UA = 13/18 (a mean of per-batch UAs would differ)
    assert tally.unweighted_accuracy() == pytest.approx(13 / 18)


def test_unknown_label_names_the_utterance_and_the_labels():
    pre = EmotionPreprocessor(["neu", "hap", "ang", "sad"])
    out = pre("utt1", {"speech": [0.0, 0.1], "emotion": "ang"})
    assert out["emotion"].tolist() == [2]
    with pytest.raises(ValueError, match=r"utterance 'utt2'.*'fru'.*\['neu', 'hap', 'ang', 'sad'\]"):
        pre("utt2", {"speech": [0.0], "emotion": "fru"})


def noise_waves(seconds: Sequence[float] = (1.25, 0.875, 0.5625)) -> List[torch.Tensor]:
    """Random 16 kHz waveforms of several lengths: the GPU machine has no corpora."""
    gen = torch.Generator().manual_seed(0)
    return [0.1 * torch.randn(round(s * 16000), generator=gen) for s in seconds]


def loss_and_gradients(model, device) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    batch, lens = pad_batch(noise_waves())
    model.to(device).zero_grad()
    loss = model(batch.to(device), lens.to(device), torch.tensor([1, 0, 2], device=device))[0]
    loss.backward()
    # a copy: moving the model later moves a CPU gradient tensor in place, under the caller's feet
    grads = {n: p.grad.to("cpu", copy=True) for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach().cpu(), grads


@pytest.mark.cuda
def test_cuda_loss_and_gradients_equal_cpu(build_model, cuda_fp32):
    """Fine-tuning on the GPU computes the CPU's loss and gradients (eval: no dropout, no SpecAugment)."""
    model = build_model("--model_conf", "freeze_encoder_steps=0").eval()
    want_loss, want = loss_and_gradients(model, "cpu")
    got_loss, got = loss_and_gradients(model, cuda_fp32)
    torch.testing.assert_close(got_loss, want_loss, atol=1e-5, rtol=1e-4)
    assert got.keys() == want.keys() and any(name.startswith("encoder.") for name in want)
    for name, grad in want.items():
        atol = 1e-5 + 1e-3 * float(grad.abs().max())  # cuDNN and the CPU sum in different orders
        torch.testing.assert_close(got[name], grad, atol=atol, rtol=1e-3, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.cuda
def test_cuda_bf16_autocast_training_step_is_finite(build_model):
    model = build_model("--model_conf", "freeze_encoder_steps=0").cuda()
    batch, lens = pad_batch(noise_waves())
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(batch.cuda(), lens.cuda(), torch.tensor([1, 0, 2]).cuda())[0]
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads)
