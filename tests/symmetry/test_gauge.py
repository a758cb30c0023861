"""Fields, Gram, projection, moment map and Kempf–Ness balancing."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from implicitbias.symmetry import SingularOrbitWarning, catalog, constraint_gram, induced_bias
from implicitbias.symmetry.gauge import expm_action

from .conftest import PAPER_ENTRIES


def test_fields_batched_equals_loop_and_gram():
    e = catalog.factorization(4, 3, 2)
    alg = e.algebra
    th = e.random_points(6, seed=1)
    fb = alg.fields(th)
    assert fb.shape == (6, e.parametrization.dim, 4)
    for c in range(6):
        loop = torch.stack([g @ th[c] for g in alg.generators], dim=1)
        assert torch.allclose(fb[c], loop, atol=1e-14)
        assert torch.allclose(alg.gram(th)[c], loop.T @ loop, atol=1e-12)
    # float32 theta keeps its dtype for fields
    assert alg.fields(th.float()).dtype == torch.float32


def test_factorization_gram_is_kronecker_sum():
    """Reference §6.3: G = I (x) U^T U + V^T V (x) I, eigenvalues lambda_i(U^TU) + lambda_j(V^TV)."""
    e = catalog.factorization(5, 4, 3)
    th = e.random_point(2)
    q = e.parametrization.unflatten(th)
    ev = torch.linalg.eigvalsh(e.algebra.gram(th))
    a = torch.linalg.eigvalsh(q["U"].T @ q["U"])
    b = torch.linalg.eigvalsh(q["V"].T @ q["V"])
    expect = torch.sort((a[:, None] + b[None, :]).reshape(-1)).values
    assert torch.allclose(ev, expect, rtol=1e-10)


def test_project_out_is_orthogonal_projection_batched():
    e = catalog.relu_net(3, 4, 2, n_probe=12)
    alg = e.algebra
    th = e.random_points(5, seed=3)
    v = torch.randn(5, e.parametrization.dim, dtype=torch.float64)
    pv = alg.project_out(th, v)
    f = alg.fields(th)
    # orthogonal to the orbit tangent, idempotent, and v - pv lies in span(fields)
    assert float((f.transpose(1, 2) @ pv.unsqueeze(-1)).abs().max()) < 1e-12
    assert torch.allclose(alg.project_out(th, pv), pv, atol=1e-12)
    for c in range(5):
        coef = torch.linalg.lstsq(f[c], (v[c] - pv[c]).unsqueeze(-1)).solution
        assert torch.allclose(f[c] @ coef.squeeze(-1), v[c] - pv[c], atol=1e-12)
        assert torch.allclose(alg.project_out(th[c], v[c]), pv[c], atol=1e-13)
    # dtype follows v; singular orbit (a zero neuron) still gives a finite projection
    assert alg.project_out(th, v.float()).dtype == torch.float32
    th0 = th[0].clone()
    th0[e.parametrization.slices["W1"]] = 0.0
    th0[e.parametrization.slices["W2"]] = 0.0
    assert torch.isfinite(alg.project_out(th0, v[0])).all()


def test_expm_action_matches_matrix_exp():
    x = torch.randn(7, 7, dtype=torch.float64) * 2
    v = torch.randn(7, dtype=torch.float64)
    got = expm_action(lambda w: x @ w, v, float(x.abs().sum(1).max()))
    assert torch.allclose(got, torch.linalg.matrix_exp(x) @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key", list(PAPER_ENTRIES))
def test_balance_keeps_predictor_and_zeroes_moment_map(cache, key):
    e = cache.entry(key)
    p = e.parametrization
    th = e.random_points(3, seed=4)
    # push the points far along their orbits first (unbalance, predictor unchanged)
    sym = e.algebra.symmetric_part()
    c = torch.linspace(-1.2, 1.2, sym.dim, dtype=torch.float64)
    x = torch.einsum("a,aij->ij", c, sym.generators)
    th = th @ torch.linalg.matrix_exp(x).T
    thb = e.algebra.balance(th)
    for a, b in zip(th, thb, strict=True):
        pa, pb = p.flat_output(a), p.flat_output(b)
        assert float((pb - pa).norm() / pa.norm()) < 1e-8
    assert float(e.algebra.moment_map(thb).abs().max()) < 1e-8
    # Kempf–Ness: the balanced point has the smallest norm on the orbit
    assert bool((thb.norm(dim=1) <= th.norm(dim=1) * (1 + 1e-12)).all())


def test_balance_is_min_norm_on_the_orbit():
    e = catalog.factorization(4, 3, 2)
    thb = e.balanced_point(seed=1)
    gens = e.algebra.generators
    g = torch.Generator().manual_seed(0)
    for _ in range(20):  # random group elements exp(X), X in gl(2)
        x = torch.einsum("a,aij->ij", 0.5 * torch.randn(4, generator=g, dtype=torch.float64), gens)
        assert float((torch.linalg.matrix_exp(x) @ thb).norm()) >= float(thb.norm()) * (1 - 1e-12)
    # factorization balance: U^T U = V^T V
    q = e.parametrization.unflatten(thb)
    assert torch.allclose(q["U"].T @ q["U"], q["V"].T @ q["V"], atol=1e-10)


def test_hadamard_balance_closed_form():
    e = catalog.hadamard(4, 2)
    th = e.random_point(7)
    q = e.parametrization.unflatten(e.algebra.balance(th))
    w = e.parametrization.fn(e.parametrization.unflatten(th))
    assert torch.allclose(q["u1"].abs(), w.abs().sqrt(), rtol=1e-10)
    assert torch.allclose(q["u2"].abs(), w.abs().sqrt(), rtol=1e-10)


def test_borel_kolmogorov_pair():
    """Reference §5.1: on u = v, chi = u - v gives C = 2; chi = u^2 - v^2 gives C = 8|w|."""
    for s in (0.3, 1.0, 2.5):
        th = torch.tensor([s, s], dtype=torch.float64)
        c_lin = constraint_gram(lambda t: t[:1] - t[1:], th)
        c_sq = constraint_gram(lambda t: t[:1] ** 2 - t[1:] ** 2, th)
        assert abs(float(c_lin) - 2.0) < 1e-12
        assert abs(float(c_sq) - 8 * s * s) < 1e-12
    # the moment-map gauge 0.5 (u^2 - v^2) is the one induced_bias uses: C = 2|w| = u^2 + v^2
    e = catalog.hadamard(1, 2)
    th = torch.tensor([1.7, 1.7], dtype=torch.float64)
    assert abs(float(induced_bias(e.algebra, th, 2.0)) - math.log(2 * 1.7**2)) < 1e-12


def test_one_sgd_step_imbalance_identity():
    """Reference §4.4: for w = uv and per-sample gradient g = dl/dw, u'^2 - v'^2 = (u^2 - v^2)(1 - eta^2 g^2)."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        u, v, x, y = (torch.randn(1, generator=gen, dtype=torch.float64) for _ in range(4))
        eta = 0.3
        uu, vv = u.clone().requires_grad_(), v.clone().requires_grad_()
        w = uu * vv
        loss = 0.5 * (w * x - y) ** 2
        gu, gv = torch.autograd.grad(loss.sum(), (uu, vv))
        g = float(((w * x - y) * x).detach())
        u2, v2 = u - eta * gu, v - eta * gv
        lhs = float(u2**2 - v2**2)
        rhs = float((u**2 - v**2) * (1 - eta**2 * g**2))
        assert abs(lhs - rhs) < 1e-12 * max(1.0, abs(rhs))


def test_singular_orbits_give_minus_inf_with_warning():
    e = catalog.hadamard(3, 2)
    cases = [
        [0.0, 1.0, 1.0, 0.0, 1.0, 1.0],  # u_0 = v_0 = 0: rank drop at the point
        [1.0, 0.0, 1.0, 1.0, 1.0, 1.0],  # u_1 = 0 != v_1: non-closed orbit
    ]
    for c in cases:
        th = torch.tensor(c, dtype=torch.float64)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            b = induced_bias(e.algebra, th, 1.0)
        assert float(b) == -math.inf
        assert any(issubclass(r.category, SingularOrbitWarning) for r in rec)
    # batched: only the singular row is -inf, none NaN
    th = torch.tensor([cases[0], [1.0, 2.0, 0.5, 1.0, 1.0, 3.0]], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularOrbitWarning)
        b = induced_bias(e.algebra, th, 1.0)
    assert float(b[0]) == -math.inf and math.isfinite(float(b[1]))
    assert not bool(torch.isnan(b).any())
    # the generator-Gram log-volume is -inf (never NaN) at u_0 = v_0 = 0 too
    assert float(e.algebra.log_volume(torch.tensor(cases[0], dtype=torch.float64))) == -math.inf
