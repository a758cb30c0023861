"""Regressions of issue 12 §1: lost symmetric generators and unstable discovery answers."""

from __future__ import annotations

import math

import pytest
import torch

from implicitbias.errors import UserInputError
from implicitbias.symmetry import SymmetryAlgebra, catalog, discover_symmetries, induced_bias
from implicitbias.symmetry.discovery import DiscoveryError
from implicitbias.symmetry.linalg import max_principal_angle

from .known import quadratic_forms

F64 = torch.float64


def _flat(g: torch.Tensor) -> torch.Tensor:
    return g.reshape(g.shape[0], -1)


def _boosts(n_pairs: int) -> torch.Tensor:
    """``E_{2i,2i+1} + E_{2i+1,2i}``: hyperbolic rotations on disjoint coordinate pairs."""
    g = torch.zeros(n_pairs, 2 * n_pairs, 2 * n_pairs, dtype=F64)
    for i in range(n_pairs):
        g[i, 2 * i, 2 * i + 1] = g[i, 2 * i + 1, 2 * i] = 1.0
    return g


def test_symmetric_part_keeps_every_boost_of_a_discovered_algebra():
    """phi = (x0² − x1², x2² − x3², x4² − x5²): so(1,1)³, three off-diagonal symmetric generators."""
    kn = quadratic_forms([[1, -1]] * 3)
    alg = discover_symmetries(kn.p, seed=0)
    assert alg.dim == 3
    sym = alg.symmetric_part()
    assert sym.dim == 3  # was 1: a relative threshold on round-off lost two boosts
    assert max_principal_angle(_flat(sym.generators), _flat(_boosts(3))) < 1e-10
    th = torch.randn(5, 6, generator=torch.Generator().manual_seed(1), dtype=F64)
    thb = alg.balance(th)
    pairs = thb.reshape(5, 3, 2)
    assert float((pairs[..., 0] * pairs[..., 1]).abs().max()) < 1e-8  # every boost balanced
    assert float(alg.moment_map(thb).abs().max()) < 1e-8
    assert torch.allclose(kn.p.batched(thb), kn.p.batched(th), rtol=0, atol=1e-10)
    # (T/2) sum_i log|w_i| (C = diag(|w_i|) at the balanced point), up to a constant
    temp = 0.4
    d = induced_bias(alg, th, temp) - temp * kn.bias_unit(th)
    assert float(d.max() - d.min()) < 1e-8


def test_so_1_3_bias_matches_closed_form():
    """phi = x0² − x1² − x2² − x3²: so(1,3), three boosts; R = (3T/2) log w where w > 0."""
    kn = quadratic_forms([[1, -1, -1, -1]])
    alg = discover_symmetries(kn.p, seed=0)
    assert (alg.dim, alg.symmetric_part().dim) == (6, 3)
    g = torch.Generator().manual_seed(2)
    th = torch.randn(40, 4, generator=g, dtype=F64)
    w = th[:, 0] ** 2 - (th[:, 1:] ** 2).sum(1)
    th = th[w > 0][:6]
    d = induced_bias(alg, th, 1.0) - 1.5 * torch.log(th[:, 0] ** 2 - (th[:, 1:] ** 2).sum(1))
    assert float(d.max() - d.min()) < 1e-8


@pytest.mark.parametrize("gens", [_boosts(4), catalog.hadamard(4, 3).algebra.generators],
                         ids=["boosts", "hadamard"])
def test_symmetric_part_is_independent_of_the_basis(gens):
    """A random invertible mix of symmetric generators, symmetric only up to round-off (as
    discovered generators are): a relative threshold on the skew parts alone lost them."""
    k = gens.shape[0]
    g = torch.Generator().manual_seed(0)
    m = torch.eye(k, dtype=F64) + 0.5 * torch.randn(k, k, generator=g, dtype=F64)
    mixed = torch.einsum("ab,bij->aij", m, gens)
    mixed = mixed + 1e-15 * torch.randn(mixed.shape, generator=g, dtype=F64) * (mixed != 0)
    mixed = SymmetryAlgebra(mixed)
    sym = mixed.symmetric_part()
    assert sym.dim == k and sym.info["self_adjoint"]
    assert max_principal_angle(_flat(sym.generators), _flat(gens)) < 1e-10
    th = torch.randn(3, gens.shape[-1], generator=torch.Generator().manual_seed(1), dtype=F64)
    chi = torch.einsum("ni,aij,nj->na", mixed.balance(th), gens, mixed.balance(th))
    assert float(chi.abs().max()) < 1e-8


def test_discovery_keeps_adding_points_until_the_null_space_is_stable():
    """relu_net(16, 16, 1): four fixed rounds returned dim 48 with a warning; now 16."""
    e = catalog.relu_net(16, 16, 1)
    alg = discover_symmetries(e.parametrization, seed=0)
    assert alg.dim == 16
    assert max_principal_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-6
    hist = alg.info["rank_history"]
    assert hist[-1][1] == hist[-2][1] == hist[-3][1]  # two fresh batches removed nothing
    assert alg.info["fresh_residual"] < 1e-10


def test_discovery_raises_instead_of_returning_an_unstable_null_space():
    e = catalog.relu_net(8, 16, 1)
    with pytest.raises(DiscoveryError, match="did not converge") as info:
        discover_symmetries(e.parametrization, n_points=4, max_points=8)
    assert isinstance(info.value, UserInputError)  # the CLI prints one error line


def test_discovery_refuses_an_ansatz_it_cannot_solve():
    """relu_net(8, 64, 1) on the structured path: 8833 unknowns, refused before any factorisation."""
    e = catalog.relu_net(8, 64, 1)
    with pytest.raises(DiscoveryError, match="8833 unknowns"):
        discover_symmetries(e.parametrization, mode="structured")


@pytest.mark.slow
def test_relu_net_8_64_1_is_discovered_exactly_by_the_default_path():
    """Issue 12: did not finish in 8 minutes; ``auto`` now takes the scalable sparse path (D = 576)."""
    import implicitbias as ib

    e = catalog.relu_net(8, 64, 1)
    alg = ib.discover_symmetries(e.parametrization, seed=0)
    assert alg.dim == 64
    assert max_principal_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-8


@pytest.mark.slow
def test_relu_net_8_32_1_is_discovered_exactly():
    """Issue 12: returned dim 160 after "null space not stable after 4 rounds"."""
    e = catalog.relu_net(8, 32, 1)
    alg = discover_symmetries(e.parametrization, seed=0)
    assert alg.dim == 32
    assert max_principal_angle(_flat(e.algebra.generators), _flat(alg.generators)) < 1e-6
    pts = e.random_points(5, seed=3)
    d = induced_bias(alg, pts, 1.0) - e.bias(pts, 1.0)
    assert math.isfinite(float(d.max())) and float(d.max() - d.min()) < 1e-6
