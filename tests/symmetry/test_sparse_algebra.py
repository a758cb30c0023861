"""SparseSymmetryAlgebra against the dense SymmetryAlgebra: fields, Gram, log-volume, moment map, balance, bias."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from implicitbias.errors import UserInputError
from implicitbias.symmetry import SparseSymmetryAlgebra, catalog, induced_bias
from implicitbias.symmetry.gauge import SingularOrbitWarning
from implicitbias.symmetry.gauge import induced_bias as dense_induced_bias

ENTRIES = {
    "hadamard(5,2)": lambda: catalog.hadamard(5, 2),
    "hadamard(3,3)": lambda: catalog.hadamard(3, 3),
    "factorization(4,3,2)": lambda: catalog.factorization(4, 3, 2),  # GL(2): symmetric part is not all
    "relu_net(3,6,1)": lambda: catalog.relu_net(3, 6, 1),
    "attention(6,3)": lambda: catalog.attention(6, 3),
}


@pytest.fixture(scope="module", params=list(ENTRIES))
def pair(request):
    e = ENTRIES[request.param]()
    return e, e.algebra, SparseSymmetryAlgebra.from_dense(e.algebra)


def test_fields_and_gram(pair):
    e, dense, sparse = pair
    th = e.random_points(3, seed=1)
    f = sparse.fields(th[0])
    assert f.layout == torch.sparse_csr and f.shape == (dense.dim, dense.D)
    assert torch.allclose(f.to_dense(), dense.fields(th[0]).T, atol=1e-13)
    assert torch.allclose(sparse.gram(th), dense.gram(th), rtol=1e-12, atol=1e-12)
    assert torch.allclose(sparse.log_volume(th), dense.log_volume(th), rtol=1e-10, atol=1e-10)
    assert torch.equal(sparse.generators, dense.generators)


def test_symmetric_part_and_moment_map(pair):
    e, dense, sparse = pair
    assert sparse.symmetric_part().dim == dense.symmetric_part().dim
    th = e.random_points(4, seed=2)
    chi_s, chi_d = sparse.moment_map(th), dense.moment_map(th)
    # same span of symmetric generators, possibly another basis: compare the balancing condition chi = 0
    assert chi_s.shape == chi_d.shape
    if sparse.symmetric_part().dim == dense.symmetric_part().dim == dense.dim:
        assert torch.allclose(chi_s, chi_d, atol=1e-12)


def test_balance_and_induced_bias(pair):
    e, dense, sparse = pair
    th = e.random_points(3, seed=3)
    tb_s = sparse.balance(th)
    tb_d = dense.balance(th)
    p = e.parametrization
    for a, b, t in zip(tb_s, tb_d, th, strict=True):
        assert torch.allclose(a.norm(), b.norm(), rtol=1e-9)  # the unique minimum norm on the orbit
        assert torch.allclose(p(a), p(t), atol=1e-10)  # a group element: same predictor
    assert float(sparse.moment_map(tb_s).abs().max()) < 1e-9 * float(th.pow(2).sum(-1).max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularOrbitWarning)
        b_s = induced_bias(sparse, th, 0.3)
        b_d = dense_induced_bias(dense, th, 0.3)
    # bases of the symmetric part may differ by a fixed matrix M: a constant shift T log|det M|
    shift = b_s - b_d
    assert float(shift.max() - shift.min()) < 1e-7


def test_project_out(pair):
    e, dense, sparse = pair
    th = e.random_point(seed=4)
    v = torch.randn(dense.D, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(sparse.project_out(th, v), dense.project_out(th, v), atol=1e-10)


def test_relu_balance_matches_closed_form():
    e = catalog.relu_net(3, 6, 1)
    sparse = SparseSymmetryAlgebra.from_dense(e.algebra)
    assert sparse.diagonal  # rescalings: exp(X) theta is exp(diag) * theta exactly
    th = e.random_point(seed=5)
    q = e.parametrization.unflatten(sparse.balance(th))
    assert torch.allclose(q["W1"].norm(dim=1), q["W2"].norm(dim=0), rtol=1e-9)  # ||w_j|| = ||v_j||


def test_singular_orbit_gives_minus_inf():
    e = catalog.hadamard(3, 2)
    sparse = SparseSymmetryAlgebra.from_dense(e.algebra)
    th = e.random_point(seed=0)
    th[0] = th[3] = 0.0  # u_0 = v_0 = 0: rank drop
    with pytest.warns(SingularOrbitWarning):
        b = sparse.induced_bias(th, 1.0)
    assert b.item() == -math.inf


def test_dense_generators_refuse_when_too_large():
    d = 100_000
    idx = torch.arange(10)
    alg = SparseSymmetryAlgebra(d, idx, idx, idx, torch.ones(10, dtype=torch.float64), k=10)
    with pytest.raises(UserInputError, match="GiB") as ei:
        _ = alg.generators
    assert "\n" not in str(ei.value)
    assert alg.fields(torch.ones(d)).shape == (10, d) and alg.nnz == 10
