"""Goodness, loss, normalisation and label embedding against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from implicitbias.ff.core import ff_loss, goodness, normalize_rows
from implicitbias.ff.embed import make_embedding


def sp(z: float) -> float:
    return math.log1p(math.exp(z))


def test_goodness_hand_values():
    h = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    assert goodness(h, "l2").tolist() == [5.0, 0.0, 3.0]
    assert goodness(h, "sumsq").tolist() == [25.0, 0.0, 9.0]
    assert torch.allclose(goodness(h, "meansq"), torch.tensor([25 / 3, 0.0, 3.0]))
    assert goodness(h, "l1").tolist() == [7.0, 0.0, 5.0]
    assert goodness(h, "linf").tolist() == [4.0, 0.0, 2.0]


def test_ff_loss_hand_values():
    gp, gn = torch.tensor([3.0, 5.0]), torch.tensor([1.0, 4.0])
    want = (sp(0.0) + sp(-2.0) + sp(-2.0) + sp(1.0)) / 4
    assert ff_loss(gp, gn, 3.0).item() == pytest.approx(want, rel=1e-6)
    want_symba = (sp(-4.0 * 2.0) + sp(-4.0 * 1.0)) / 2
    assert ff_loss(gp, gn, 3.0, "symba", 4.0).item() == pytest.approx(want_symba, rel=1e-6)


def test_ff_loss_is_stable_for_huge_goodness():
    gp = torch.tensor([0.0, 1e6], requires_grad=True)
    gn = torch.tensor([1e6, 0.0], requires_grad=True)
    loss = ff_loss(gp, gn, 3.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(gp.grad).all() and torch.isfinite(gn.grad).all()
    assert loss.item() == pytest.approx((sp(3.0) + 0 + (1e6 - 3.0) + sp(-3.0)) / 4, rel=1e-6)


def test_ff_loss_gradient_matches_finite_differences():
    g = torch.tensor([2.5, 3.7, 1.2, 4.1], dtype=torch.float64, requires_grad=True)
    f = lambda v: ff_loss(v[:2], v[2:], 3.0)  # noqa: E731
    torch.autograd.gradcheck(f, (g,))


def test_normalize_rows():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert torch.allclose(normalize_rows(x, "l2", 1e-12), torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    r = normalize_rows(x, "rms", 0.0)[0]
    assert torch.allclose(r.pow(2).mean(), torch.tensor(1.0))
    assert torch.equal(normalize_rows(x, "none", 0.0), x)


def test_embedding_slots_and_label_independent_norm():
    x = torch.randn(4, 3 * 32 * 32)
    emb = make_embedding("auto", (3, 32, 32), 10, 2.5)
    y = torch.tensor([0, 3, 9, 3])
    e = emb.embed(x, y)
    img = e.view(4, 3, 32, 32)
    for b in range(4):
        row = img[b, :, 0, :10]
        assert torch.all(row[:, y[b]] == 2.5) and (row != 0).sum() == 3  # one slot per channel
    assert torch.equal(img[:, :, 1:], x.view(4, 3, 32, 32)[:, :, 1:])
    norms = torch.stack([emb.embed(x, torch.full((4,), k)).norm(dim=1) for k in range(10)])
    assert torch.allclose(norms, norms[0].expand_as(norms))
    grey = make_embedding("first_pixels", (1, 28, 28), 10, 1.0)
    xe = grey.embed(torch.ones(2, 784), torch.tensor([4, 7]))
    assert xe[0, :10].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0] and xe[1, 7] == 1 and xe[0, 10] == 1
    assert torch.allclose(grey.neutral(torch.ones(1, 784))[0, :10], torch.full((10,), 0.1))
    cat = make_embedding("one_hot_concat", (1, 28, 28), 10, 1.0)
    xc = cat.embed(torch.ones(2, 784), torch.tensor([4, 7]))
    assert xc.shape == (2, 794) and xc[0, 788] == 1 and xc[0, 784:].sum() == 1 and xc[:, :784].eq(1).all()
