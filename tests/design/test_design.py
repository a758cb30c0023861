"""implicitbias.design: verify() at three sizes, modules under register_parametrization,
bases, and that verify() catches a wrong closed form."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn.utils import parametrize

from implicitbias import design as D
from implicitbias.errors import UserInputError

CASES = [
    ("identity", lambda n: D.sparse_in_basis(torch.eye(n)), (3, 5, 7)),
    ("dct", lambda n: D.sparse_in_basis(D.dct_matrix(n)), (3, 5, 8)),
    ("haar-depth3", lambda n: D.sparse_in_basis(D.haar_matrix(n), depth=3), (2, 4, 8)),
    ("tv", D.total_variation, (3, 5, 8)),
    ("group", lambda n: D.group_sparse([1] + [2] * ((n - 1) // 2) + [1] * ((n - 1) % 2)), (3, 5, 8)),
    ("lowrank", lambda n: D.low_rank(n, n - 1, 2), (3, 4, 5)),
]


@pytest.mark.parametrize("name,make,sizes", CASES, ids=[c[0] for c in CASES])
def test_verify_three_sizes(name, make, sizes) -> None:
    for n in sizes:
        rep = make(n).verify(n_points=3, seed=n)
        assert rep.ok, f"{name}({n}): {rep}"


def test_verify_detects_a_wrong_closed_form() -> None:
    d = D.sparse_in_basis(D.dct_matrix(5))
    wrong = dataclasses.replace(d, closed_form=lambda beta, T: 0.5 * T * torch.log(beta.abs()).sum(-1))
    assert not wrong.verify(n_points=3).ok
    half = dataclasses.replace(d, closed_form=lambda beta, T: 0.5 * d.closed_form(beta, T))
    assert not half.verify(n_points=3).ok


@pytest.mark.parametrize("make,shape", [
    (lambda: D.sparse_in_basis(D.dct_matrix(6)), (3, 6)),
    (lambda: D.sparse_in_basis(D.haar_matrix(4), depth=3), (2, 4)),
    (lambda: D.total_variation(6), (1, 6)),
    (lambda: D.group_sparse([2, 2, 2]), (2, 6)),
    (lambda: D.low_rank(5, 4, 4), (5, 4)),
])
def test_register_parametrization_keeps_function_and_balances(make, shape) -> None:
    d = make()
    torch.manual_seed(0)
    layer = torch.nn.Linear(shape[1], shape[0], bias=False)
    W0 = layer.weight.detach().clone()
    parametrize.register_parametrization(layer, "weight", d.module)
    torch.testing.assert_close(layer.weight, W0, atol=1e-5, rtol=1e-5)
    x = torch.randn(7, shape[1])
    torch.testing.assert_close(layer(x), x @ W0.T, atol=1e-5, rtol=1e-5)
    orig = layer.parametrizations.weight.original0
    assert orig.requires_grad
    # the stored factors are balanced: every moment map vanishes (row by row)
    factors = [getattr(layer.parametrizations.weight, f"original{i}") for i in range(len(d.parametrization.shapes))]
    if d.predictor_shape == tuple(W0.shape):  # matrix designs: one θ
        theta = d.parametrization.flatten(dict(zip(d.parametrization.names, factors, strict=True)))
        chi = d.algebra.moment_map(theta.detach().double())
        assert float(chi.abs().max()) < 1e-5
    else:
        for r in range(shape[0]):
            theta = d.parametrization.flatten({k: f[r] for k, f in zip(d.parametrization.names, factors, strict=True)})
            chi = d.algebra.moment_map(theta.detach().double())
            assert float(chi.abs().max()) < 1e-5
    # gradients flow to the factors
    layer(x).sum().backward()
    assert orig.grad is not None and torch.isfinite(orig.grad).all()


def test_bases() -> None:
    for B in (D.dct_matrix(7), D.haar_matrix(8)):
        torch.testing.assert_close(B @ B.T, torch.eye(B.shape[0], dtype=torch.float64))
    x = torch.randn(9, dtype=torch.float64)
    torch.testing.assert_close(torch.cumsum(D.finite_difference_matrix(9) @ x, 0), x)
    # DCT-II against the direct sum definition
    n, k, t = 6, 2, torch.arange(6, dtype=torch.float64)
    ref = (2 / n) ** 0.5 * torch.cos(torch.pi * (t + 0.5) * k / n)
    torch.testing.assert_close(D.dct_matrix(n)[k], ref)


def test_closed_forms_match_formulas() -> None:
    beta = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    tv = D.total_variation(4).bias(beta, T=2.0)
    dif = torch.tensor([1.0, 3.0, 2.5, 2.5], dtype=torch.float64)
    torch.testing.assert_close(tv, torch.log(dif).sum())
    g = D.group_sparse([[0, 2], [1, 3]]).bias(beta, T=1.0)
    norms = torch.tensor([1.25, 13.0], dtype=torch.float64).sqrt()  # ‖β_{0,2}‖, ‖β_{1,3}‖
    torch.testing.assert_close(g, 0.5 * torch.log(norms).sum())


def test_bad_input_is_a_user_error() -> None:
    with pytest.raises(UserInputError):
        D.sparse_in_basis(torch.ones(3, 3))
    with pytest.raises(UserInputError):
        D.low_rank(4, 4, 2, depth=3)
    with pytest.raises(UserInputError):
        D.low_rank(4, 3, 5)
    with pytest.raises(UserInputError):
        D.group_sparse([[0, 1], [1, 2]])
    with pytest.raises(UserInputError):
        D.haar_matrix(6)


def test_large_design_is_lazy_and_usable() -> None:
    d = D.low_rank(40, 30, 30)  # dense algebra would need 900 x 2100 x 2100 floats
    layer = torch.nn.Linear(30, 40, bias=False)
    parametrize.register_parametrization(layer, "weight", d.module)
    D.init_factors_(layer, "weight", std=0.1, generator=torch.Generator().manual_seed(0))
    U = layer.parametrizations.weight.original0
    V = layer.parametrizations.weight.original1
    torch.testing.assert_close(layer.weight, U @ V.T)
    assert "GL(30)" in d.describe()
    with pytest.raises(UserInputError):
        _ = d.algebra
