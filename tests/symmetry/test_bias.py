"""Induced bias: generic (T/2) log det C at the balanced point vs closed forms and SymPy."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from implicitbias.symmetry import catalog, induced_bias
from implicitbias.symmetry.catalog import spectral_bias_unit

from .conftest import PAPER_ENTRIES


def _spread(alg, e, pts, temp):
    d = induced_bias(alg, pts, temp) - e.bias(pts, temp)
    assert bool(torch.isfinite(d).all())
    return float(d.max() - d.min())


@pytest.mark.parametrize("key", list(PAPER_ENTRIES))
def test_generic_bias_minus_closed_form_is_constant(cache, key):
    e = cache.entry(key)
    pts = e.random_points(20, seed=7)
    temp = 0.37
    assert _spread(e.algebra, e, pts, temp) < 1e-6
    if not e.is_subgroup:
        assert _spread(cache.discovered(key), e, pts, temp) < 1e-6
    # closed form is orbit-invariant: same value at the balanced representative
    bal = e.algebra.balance(pts[:3])
    assert torch.allclose(e.bias(bal, temp), e.bias(pts[:3], temp), atol=1e-9)


def test_closed_form_would_be_detected_if_wrong(cache):
    """Guard: a wrong exponent (T/2 -> T) or the full-GL Gram formula gives a large spread."""
    e = cache.entry("hadamard(5,2)")
    pts = e.random_points(20, seed=7)
    d = induced_bias(e.algebra, pts, 1.0) - 2 * e.bias(pts, 1.0)
    assert float(d.max() - d.min()) > 1e-2
    f = cache.entry("factorization(4,3,2)")
    pts = f.random_points(20, seed=7)
    q = f.parametrization.unflatten(pts)
    s = torch.linalg.svdvals(q["U"] @ q["V"].transpose(-1, -2))[..., :2]
    full_gl = 0.5 * (torch.log(2 * s).sum(-1) + 2 * torch.log(s[..., 0] + s[..., 1]))
    d = induced_bias(f.algebra, pts, 1.0) - full_gl
    assert float(d.max() - d.min()) > 1e-2


def test_bias_is_linear_in_temperature_and_basis_shift_is_constant():
    e = catalog.relu_net(3, 5, 1, n_probe=30)
    pts = e.random_points(6, seed=1)
    b1 = induced_bias(e.algebra, pts, 1.0)
    assert torch.allclose(induced_bias(e.algebra, pts, 0.25), 0.25 * b1, atol=1e-12)
    # a different fixed basis (invertible mix) shifts the bias by T/2 log det(M)^2
    m = torch.randn(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) + 3 * torch.eye(5, dtype=torch.float64)
    from implicitbias.symmetry import SymmetryAlgebra

    alg2 = SymmetryAlgebra(torch.einsum("ab,bij->aij", m, e.algebra.generators))
    d = induced_bias(alg2, pts, 1.0) - b1
    assert torch.allclose(d, torch.full_like(d, float(torch.linalg.slogdet(m)[1])), atol=1e-9)


def test_sympy_gram_determinant_depth3_diagonal():
    """det G for one coordinate of w = u1 u2 u3 (generators u_k e_k - u_{k+1} e_{k+1}), symbolically."""
    u1, u2, u3 = sp.symbols("u1 u2 u3", real=True)
    xi1 = sp.Matrix([u1, -u2, 0])
    xi2 = sp.Matrix([0, u2, -u3])
    g = sp.Matrix([[xi1.dot(xi1), xi1.dot(xi2)], [xi2.dot(xi1), xi2.dot(xi2)]])
    det = sp.expand(g.det())
    assert sp.simplify(det - (u1**2 * u2**2 + u1**2 * u3**2 + u2**2 * u3**2)) == 0
    s = sp.symbols("s", positive=True)
    assert sp.simplify(det.subs({u1: s, u2: s, u3: s}) - 3 * s**4) == 0  # = L |w|^{2(L-1)/L}
    # numeric: library Gram at random points equals the symbolic determinant
    e = catalog.hadamard(1, 3)
    f = sp.lambdify((u1, u2, u3), det)
    for th in e.random_points(5, seed=2):
        got = torch.linalg.det(e.algebra.gram(th))
        assert abs(float(got) - float(f(*th.tolist()))) < 1e-10 * max(1.0, abs(float(got)))
    # at the balanced point: log_volume = 0.5 log(3 |w|^{4/3})
    th = e.random_point(9)
    w = abs(float(th.prod()))
    lv = float(e.algebra.log_volume(e.algebra.balance(th)))
    assert abs(lv - 0.5 * math.log(3 * w ** (4 / 3))) < 1e-10


def test_sympy_factorization_balanced_constraint_gram():
    """r = 2, balanced U^T U = V^T V = diag(s1, s2): det C over sym(2) = (2 s1)(2 s2)(s1 + s2)."""
    s1, s2 = sp.symbols("s1 s2", positive=True)
    sig = sp.diag(s1, s2)
    basis = [sp.Matrix([[1, 0], [0, 0]]), sp.Matrix([[0, 0], [0, 1]]), sp.Matrix([[0, 1], [1, 0]]) / sp.sqrt(2)]
    # <xi_S, xi_S'> = tr(S U^T U S') + tr(S V^T V S') = 2 tr(S Sigma S')
    c = sp.Matrix(3, 3, lambda i, j: 2 * (basis[i] * sig * basis[j]).trace())
    assert sp.simplify(c.det() - 4 * s1 * s2 * (s1 + s2)) == 0
    e = catalog.factorization(3, 3, 2)
    pts = e.random_points(4, seed=5)
    q = e.parametrization.unflatten(pts)
    sv = torch.linalg.svdvals(q["U"] @ q["V"].transpose(-1, -2))[..., :2]
    expect = 0.5 * torch.log(4 * sv[:, 0] * sv[:, 1] * (sv[:, 0] + sv[:, 1]))
    d = induced_bias(e.algebra, pts, 1.0) - expect
    assert float(d.max() - d.min()) < 1e-9


def test_attention_out_proj_bias():
    e = catalog.attention(5, 2, out_proj=True)
    pts = e.random_points(8, seed=1)
    assert _spread(e.algebra, e, pts, 1.0) < 1e-6
    ec = catalog.attention(5, 2, out_proj=True, subgroup="columns")
    assert ec.algebra.dim == 4
    assert _spread(ec.algebra, ec, pts, 1.0) < 1e-6


def test_spectral_bias_unit_small_case():
    w = torch.diag(torch.tensor([3.0, 2.0, 0.0], dtype=torch.float64))
    got = float(spectral_bias_unit(w, 2))
    assert abs(got - 0.5 * (math.log(3) + math.log(2) + math.log(5))) < 1e-12
