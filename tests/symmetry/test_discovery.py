"""Discovery: dimensions and spans vs the analytic catalogue; dense vs structured; closure."""

from __future__ import annotations

import math

import pytest
import torch

from implicitbias.symmetry import Parametrization, catalog, discover_symmetries
from implicitbias.symmetry.linalg import containment_angle, max_principal_angle, principal_angles

from .conftest import PAPER_ENTRIES

EXPECTED_DIM = {
    "hadamard(5,2)": 5,
    "hadamard(4,3)": 8,
    "factorization(4,3,2)": 4,
    "relu_net(3,16,1)": 16,
    "attention(16,8)": 64,
    "attention(16,8,columns)": 64,  # discovery finds the full GL(8); the entry is its column subgroup
    "cumsum_hadamard(8)": 8,
}


def _flat(g: torch.Tensor) -> torch.Tensor:
    return g.reshape(g.shape[0], -1)


@pytest.mark.parametrize("key", list(PAPER_ENTRIES))
def test_discovered_dimension_and_span(cache, key):
    e = cache.entry(key)
    alg = cache.discovered(key)
    assert alg.dim == EXPECTED_DIM[key] == e.full_dim
    if e.is_subgroup:
        assert e.algebra.dim == 8
        assert containment_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-6
    else:
        assert max_principal_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-6
    assert alg.info["closure_residual"] < 1e-8
    # rank stable as points are added
    hist = alg.info["rank_history"]
    assert len(hist) >= 2 and hist[-1][1] == hist[-2][1]
    # every generator is a symmetry: J(theta) A theta = 0 at a fresh point
    th = e.random_point(11)
    jac = e.parametrization.jacobian(th)
    f = alg.fields(th)
    assert float((jac @ f).abs().max()) < 1e-8 * float(jac.abs().max()) * float(f.abs().max())


def test_structured_mode_is_used_for_attention(cache):
    alg = cache.discovered("attention(16,8)")
    assert alg.info["mode"] == "structured"
    assert cache.entry("attention(16,8)").parametrization.dim == 384


@pytest.mark.parametrize(
    "make",
    [lambda: catalog.hadamard(3, 3), lambda: catalog.factorization(3, 3, 2), lambda: catalog.cumsum_hadamard(4)],
)
def test_dense_and_structured_agree(make):
    p = make().parametrization
    a = discover_symmetries(p, mode="dense")
    b = discover_symmetries(p, mode="structured", seed=5)
    assert a.dim == b.dim
    assert max_principal_angle(_flat(a.generators), _flat(b.generators)) < 1e-7


def test_attention_with_out_projection_has_two_gl_factors():
    e = catalog.attention(4, 2, out_proj=True)
    alg = discover_symmetries(e.parametrization, mode="structured")
    assert alg.dim == 8 == e.full_dim
    assert max_principal_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-6


def test_no_symmetry_gives_empty_algebra():
    p = Parametrization(lambda q: torch.cat([q["u"] ** 3 + q["v"], q["u"] * q["v"]]), {"u": (2,), "v": (2,)})
    alg = discover_symmetries(p, mode="dense")
    assert alg.dim == 0


def test_compact_rotation_symmetry_found_and_has_no_symmetric_part():
    # w = u^2 + v^2 per coordinate: SO(2) rotations of (u_i, v_i), skew generators
    p = Parametrization(lambda q: q["u"] ** 2 + q["v"] ** 2, {"u": (3,), "v": (3,)})
    alg = discover_symmetries(p, mode="dense")
    assert alg.dim == 3
    g = alg.generators
    assert torch.allclose(g, -g.transpose(1, 2), atol=1e-10)
    assert alg.symmetric_part().dim == 0
    # no non-compact part: no gauge, zero bias, balance is the identity
    th = torch.randn(3, 6, dtype=torch.float64)
    from implicitbias.symmetry import induced_bias

    assert torch.equal(induced_bias(alg, th, 1.0), torch.zeros(3, dtype=torch.float64))
    assert torch.equal(alg.balance(th), th)
    assert alg.moment_map(th).shape == (3, 0)


def test_generators_are_theta_independent_and_not_orthonormal_fields(cache):
    """§9.2 trap: log det of the Gram of fixed generators varies with theta (an orthonormal basis would not)."""
    alg = cache.discovered("hadamard(5,2)")
    pts = cache.entry("hadamard(5,2)").random_points(5, seed=2)
    lv = alg.log_volume(pts)
    assert float(lv.max() - lv.min()) > 0.1
    # the hadamard basis is sparse: one (u_i up, v_i down) pair per generator
    nnz = (alg.generators.abs() > 1e-12).sum(dim=(1, 2))
    assert torch.equal(nnz, torch.full((5,), 2))


def test_principal_angles_oracle():
    a = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    for t in (1e-9, 0.3, 1.2):
        b = torch.tensor([[math.cos(t), math.sin(t), 0.0]], dtype=torch.float64)
        ang = principal_angles(a, b)
        assert abs(float(ang[0]) - t) < 1e-12


@pytest.mark.slow
def test_dense_mode_at_d64_relu():
    """Dense ansatz (all 4096 matrices) on relu_net(3, 16, 1): ~60 s on a busy 2-core box."""
    e = catalog.relu_net(3, 16, 1)
    alg = discover_symmetries(e.parametrization, mode="dense")
    assert alg.dim == 16
    assert max_principal_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-6
