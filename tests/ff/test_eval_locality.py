"""Batched all-label evaluation == K separate passes; FF never propagates across layers."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from implicitbias.ff import (
    FFConfig,
    ff_loss,
    goodness,
    label_goodness,
    label_goodness_separate,
    predict,
    resolve_config,
)
from implicitbias.ff.algorithms.base import joint_batch
from implicitbias.ff.algorithms.input_cache import InputCache
from implicitbias.ff.core import FFNet
from implicitbias.ff.embed import make_embedding
from implicitbias.ff.trainer import Trainer
from implicitbias.seeding import torch_generator


@pytest.mark.parametrize(
    "shape,mode,norm,kind",
    [
        ((1, 8, 8), "first_pixels", "l2", "l2"),
        ((1, 8, 8), "one_hot_concat", "rms", "sumsq"),
        ((3, 4, 10), "first_row_all_channels", "l2", "l2"),
        ((1, 8, 8), "first_pixels", "none", "meansq"),
    ],
)
def test_batched_eval_equals_separate_passes(shape, mode, norm, kind):
    torch.manual_seed(0)
    d = shape[0] * shape[1] * shape[2]
    emb = make_embedding(mode, shape, 10, 2.8)
    net = FFNet([emb.dim_out, 40, 30, 20], norm, 1e-12, torch_generator(0, "t"))
    x = torch.randn(257, d)
    G = label_goodness(net, emb, x, kind, chunk=100)
    R = label_goodness_separate(net, emb, x, kind)
    assert G.shape == (257, 10, 3)
    torch.testing.assert_close(G, R, rtol=1e-4, atol=1e-5)
    for rule in ("softmax_sum", "goodness_sum"):
        agree = (predict(G, rule) == predict(R, rule)).float().mean()
        assert agree == 1.0


def _digits_trainer(**kw) -> Trainer:
    from implicitbias.data import load_dataset

    cfg = resolve_config(FFConfig(dataset="digits", hidden=(32, 16, 8), epochs=1, lr=0.01, batch_size=64, hparams="digits_quick", **kw))
    x, y = load_dataset("digits", "train")
    return Trainer(cfg, x, y, (1, 8, 8), 10, torch.device("cpu"))


def test_greedy_ff_only_trains_its_layer():
    tr = _digits_trainer(algo="ff")
    tr.start_phase(0)
    tr.train_epoch(0)
    tr.start_phase(1)
    before = [p.detach().clone() for p in tr.net.parameters()]
    idx = torch.arange(64)
    loss, _ = tr.algorithm.autograd_loss(idx, tr.gen("x"), {})
    grads = torch.autograd.grad(loss, list(tr.net.parameters()), allow_unused=True)
    assert grads[0] is None and grads[1] is None  # layer 1 weight, bias: not in the graph
    assert grads[2] is not None and grads[2].abs().sum() > 0
    tr.train_epoch(0)
    after = list(tr.net.parameters())
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])
    assert torch.equal(before[4], after[4])  # layer 3 untouched too
    assert not torch.equal(before[2], after[2])


@pytest.mark.parametrize("algo,local", [("ff-simultaneous", True), ("bpff-perlayer", False)])
def test_simultaneous_ff_gradients_are_local(algo, local):
    """Layer-1 gradient of the full loss equals the gradient of layer 1's own loss only
    (ff-simultaneous); with end-to-end BP (bpff-perlayer) it does not, so the check can fail."""
    tr = _digits_trainer(algo=algo, negatives="fixed")
    tr.start_phase(0)
    idx = torch.arange(64)
    loss, _ = tr.algorithm.autograd_loss(joint_batch(tr.ctx, tr.negatives, idx, tr.gen("x")), {})
    w1 = tr.net.layers[0].weight
    g_full = torch.autograd.grad(loss, w1)[0]
    neg_img, neg_lab = tr.negatives.fixed_pairs
    x_pos = tr.emb.embed(tr.ctx.x[idx], tr.ctx.y[idx])
    x_neg = tr.emb.embed(tr.ctx.x[neg_img[idx]], neg_lab[idx])
    h1 = tr.net.layer(0, torch.cat([x_pos, x_neg]))
    g1 = goodness(h1, "l2")
    own = torch.autograd.grad(ff_loss(g1[:64], g1[64:], 3.0), w1)[0]
    assert torch.allclose(g_full, own, atol=1e-7) == local


def test_negatives_never_true_label_and_respect_exclusions():
    tr = _digits_trainer(algo="ff", exclude_classes=(9,))
    y = tr.ctx.y
    neg_img, neg_lab = tr.negatives.fixed_pairs
    assert int((y == 9).sum()) == 0 and tr.N == int(neg_img.numel())
    assert bool((neg_lab != y[neg_img]).all()) and int((neg_lab == 9).sum()) == 0
    # fixed negatives are distinct (image, wrong label) pairs
    pairs = neg_img * 10 + neg_lab
    assert pairs.unique().numel() == pairs.numel()
    w = tr.ctx.wrong_uniform(y, tr.gen("w"))
    assert bool((w != y).all()) and int((w == 9).sum()) == 0


def test_hard_negatives_never_true_label():
    tr = _digits_trainer(algo="ff-simultaneous", negatives="hard")
    with torch.no_grad():  # a predictor that puts almost all mass on the true label
        tr.ctx.predictor.linear.weight.zero_()
        tr.ctx.predictor.linear.bias.copy_(torch.tensor([50.0] + [0.0] * 9))
    y = torch.zeros(500, dtype=torch.long)
    wrong, _ = tr.negatives.wrong_labels(tr.ctx.x[:500], y, tr.gen("h"))
    assert bool((wrong != 0).all())
    tr2 = dataclasses.replace(tr.cfg)
    assert tr2.negatives == "hard"


@pytest.mark.parametrize("kind", ["l2", "sumsq", "meansq"])
@pytest.mark.parametrize("loss", ["softplus", "symba"])
@pytest.mark.parametrize("negatives", ["fixed", "resample"])
def test_hand_written_greedy_gradient_equals_autograd(kind, loss, negatives):
    tr = _digits_trainer(algo="ff", goodness=kind, loss=loss, negatives=negatives, threshold=0.5)
    tr.start_phase(0)
    tr.train_epoch(0)
    tr.start_phase(1)
    idx = torch.arange(50)
    lin = tr.net.layers[1]
    l_auto, st_a = tr.algorithm.autograd_loss(idx, tr.gen("g"), {})
    gw, gb = torch.autograd.grad(l_auto, [lin.weight, lin.bias])
    st_m = tr.algorithm.hand_written_step(idx, tr.gen("g"))
    torch.testing.assert_close(st_m.loss, l_auto.detach())
    torch.testing.assert_close((st_m.a, st_m.b), (st_a.a, st_a.b))
    torch.testing.assert_close(lin.weight.grad, gw, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(lin.bias.grad, gb, rtol=1e-4, atol=1e-7)
    assert gw.abs().sum() > 0


@pytest.mark.parametrize("norm,negatives", [("l2", "fixed"), ("rms", "fixed"), ("l2", "resample")])
def test_cache_rebuilt_from_data_equals_cache_advanced(monkeypatch, norm, negatives):
    """Greedy FF's layer-3 input cache: rebuilt from the data (after a resume) == advanced from
    layer 2's cache, bit for bit, with several chunks and a ragged last chunk; == the plain
    reference N(ReLU(layer(...))) to rounding."""
    monkeypatch.setattr(InputCache, "CHUNK", 37)
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(150, 64, generator=g), torch.randint(0, 10, (150,), generator=g)
    cfg = resolve_config(FFConfig(dataset="digits", hidden=(20, 16, 12), layer_norm=norm, negatives=negatives, epochs=1, lr=1e-2, batch_size=32))
    tr = Trainer(cfg, x, y, (1, 8, 8), 10, torch.device("cpu"))
    cache = tr.algorithm.cache
    advanced = cache.advance(2, cache.build(1))
    rebuilt = cache.build(2)
    for a, b in zip(advanced, rebuilt, strict=True):
        assert torch.equal(a, b)
    ref = cache.frozen_input(2, tr.emb.embed(x, y))
    torch.testing.assert_close(rebuilt[0], ref)
    if negatives == "fixed":
        img, lab = tr.negatives.fixed_pairs
        torch.testing.assert_close(rebuilt[1], cache.frozen_input(2, tr.emb.embed(x[img], lab)))
    assert rebuilt[1].shape[0] == (150 if negatives == "fixed" else 0)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(goodness="sumsq", threshold=1.0, threshold_per_unit=True, layer_norm="rms", peer_norm=0.03, negatives="hard"),
        dict(goodness="l2", loss="symba", negatives="resample"),
        dict(goodness="meansq", layer_norm="none", negatives="fixed"),
        dict(goodness="l2", peer_norm=0.1, negatives="fixed", layer_norm="l2"),
    ],
)
def test_hand_written_simultaneous_gradient_equals_autograd(overrides):
    """ff-simultaneous: the closed-form step == autograd on Σ_l loss_l (+ peer) with detached inputs."""
    tr = _digits_trainer(algo="ff-simultaneous", **overrides)
    tr.start_phase(0)
    tr.train_epoch(0)  # move away from the initialisation (and fill the peer means)
    x = joint_batch(tr.ctx, tr.negatives, torch.arange(64), tr.gen("g"))
    params = list(tr.net.parameters())
    peer_a: dict = {}
    l_auto, st_a = tr.algorithm.autograd_loss(x, peer_a)
    grads = torch.autograd.grad(l_auto, params)
    peer_m: dict = {}
    st_m = tr.algorithm.hand_written_grad(x, peer_m)
    torch.testing.assert_close(st_m.loss, l_auto.detach())
    torch.testing.assert_close((st_m.a, st_m.b), (st_a.a, st_a.b))
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
        assert g.abs().sum() > 0
    assert peer_a.keys() == peer_m.keys()
    for k in peer_a:
        torch.testing.assert_close(peer_m[k], peer_a[k])
