"""Property-based tests (Hypothesis): discovery, symmetric part, balance and bias on random
parametrizations whose algebra is known by construction (see ``known.py``).

Each example is checked against oracles that do not go through the code under test:

* dimension and span of the discovered algebra vs the hand-written generators (principal
  angles);
* the symmetric part's dimension vs the count by construction;
* balance: predictor unchanged, norm not increased, the moment map ``0.5 θᵀSθ`` of every
  symmetric generator below 1e-8 — checked both with the library's moment map and with the
  *hand-written* generators (for a transpose-closed algebra the minimum-norm point has
  ``θᵀAθ = 0`` for every ``A`` in it), and no group element of the known algebra gives a
  shorter point;
* the induced bias vs the closed form (spread over points, up to a constant), ``-inf`` where
  the closed form says the constraint Gram is singular, and invariance along orbits.

The number of examples comes from the Hypothesis profile (``tests/conftest.py``): a few in
``make test``, more in ``make test-all``.
"""

from __future__ import annotations

import math
import warnings

import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from implicitbias.symmetry import (
    SingularOrbitWarning,
    SymmetryAlgebra,
    discover_symmetries,
    induced_bias,
)
from implicitbias.symmetry.linalg import max_principal_angle

from . import known as K

T = 0.37


def _flat(g: torch.Tensor) -> torch.Tensor:
    return g.reshape(g.shape[0], -1)


def _group_element(gens: torch.Tensor, gen: torch.Generator, scale: float) -> torch.Tensor:
    """``exp(sum_a c_a A_a)`` for random ``c`` (``A_a`` normalised), a ``(D, D)`` matrix."""
    if gens.shape[0] == 0:
        return torch.eye(gens.shape[-1], dtype=torch.float64)
    unit = gens / _flat(gens).norm(dim=1)[:, None, None]
    c = scale * torch.randn(gens.shape[0], generator=gen, dtype=torch.float64) / math.sqrt(gens.shape[0])
    return torch.linalg.matrix_exp(torch.einsum("a,aij->ij", c, unit))


def _mix(k: int, seed: int) -> torch.Tensor:
    """A well-conditioned random ``(k, k)`` change of basis."""
    g = torch.Generator().manual_seed(seed + 1)
    return torch.eye(k, dtype=torch.float64) + 0.3 * torch.randn(k, k, generator=g, dtype=torch.float64) / math.sqrt(max(k, 1))


def check_known(kn: K.Known, seed: int, n_points: int = 3) -> None:
    """Every property of the module docstring for one known case."""
    p, gens = kn.p, kn.gens
    alg = discover_symmetries(p, seed=seed)
    # ---- dimension, span, symmetric part
    assert alg.dim == gens.shape[0], kn.label
    if alg.dim:
        assert max_principal_angle(_flat(gens), _flat(alg.generators)) < 1e-6, kn.label
    assert alg.symmetric_part().dim == kn.sym_dim, kn.label
    # the symmetric part does not depend on the basis: a random invertible mix of the
    # hand-written generators with round-off-sized noise on their entries gives the same
    mixed = torch.einsum("ab,bij->aij", _mix(gens.shape[0], seed), gens)
    noise = torch.randn(mixed.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    mixed = SymmetryAlgebra(mixed * (1 + 1e-15 * noise), p)
    assert mixed.symmetric_part().dim == kn.sym_dim, kn.label
    # ---- balance from points pushed along their orbits
    g = torch.Generator().manual_seed(seed)
    th = torch.randn(n_points, p.dim, generator=g, dtype=torch.float64)
    th = th @ _group_element(gens, g, 0.8).T
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingularOrbitWarning)  # generic orbits are closed
        thb = alg.balance(th)
    for a, b in zip(th, thb, strict=True):
        fa, fb = p.flat_output(a), p.flat_output(b)
        assert float((fb - fa).norm()) <= 1e-8 * max(float(fa.norm()), 1e-300), kn.label
        assert float(b.norm()) <= float(a.norm()) * (1 + 1e-12), kn.label
    for a in (alg, mixed):
        chi = a.moment_map(thb if a is alg else a.balance(th))
        assert chi.numel() == 0 or float(chi.abs().max()) < 1e-8, kn.label
    if gens.shape[0]:
        unit = gens / _flat(gens).norm(dim=1)[:, None, None]
        chi_known = 0.5 * torch.einsum("ni,aij,nj->na", thb, unit, thb)
        assert float(chi_known.abs().max()) < 1e-8, kn.label
        for _ in range(3):  # minimum norm on the orbit, against the hand-written group
            moved = thb @ _group_element(gens, g, 0.5).T
            assert bool((moved.norm(dim=1) >= thb.norm(dim=1) * (1 - 1e-10)).all()), kn.label
    # ---- induced bias: closed form, singular orbits, orbit invariance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularOrbitWarning)
        r = induced_bias(alg, th, T)
        r_moved = induced_bias(alg, th @ _group_element(gens, g, 0.5).T, T)
    assert not bool(torch.isnan(r).any()), kn.label
    fin = torch.isfinite(r)
    assert bool((fin == torch.isfinite(r_moved)).all()), kn.label
    assert torch.allclose(r[fin], r_moved[fin], rtol=0, atol=1e-7), kn.label
    if kn.bias_unit is not None:
        closed = T * kn.bias_unit(th)
        ok = torch.isfinite(closed)
        assert bool((r[~ok] == -math.inf).all()), kn.label  # closed form: singular C
        assert bool(fin[ok].all()), kn.label
        if int(ok.sum()) >= 2:
            d = (r - closed)[ok]
            assert float(d.max() - d.min()) < 1e-6, kn.label


# ---- strategies ----------------------------------------------------------------------------
BLOCK = st.one_of(
    st.tuples(st.just("hadamard"), st.tuples(st.integers(1, 3), st.integers(2, 3))),
    st.integers(2, 3).flatmap(lambda m: st.integers(2, 3).flatmap(
        lambda n: st.tuples(st.just("factorization"), st.tuples(st.just(m), st.just(n), st.integers(1, min(m, n)))))),
    st.tuples(st.just("relu"), st.tuples(st.integers(2, 3), st.integers(1, 3), st.integers(1, 2))),
    st.tuples(st.just("cumsum"), st.tuples(st.integers(2, 4))),
)
SIGNS = st.lists(st.sampled_from([1, -1]), min_size=1, max_size=4)
SEED = st.integers(0, 2**16)


def _dim(specs) -> int:
    return sum(K.catalog_block(k, a).parametrization.dim for k, a in specs)


@given(specs=st.lists(BLOCK, min_size=2, max_size=3), seed=SEED)
def test_disjoint_products_of_catalogue_blocks(specs, seed):
    assume(_dim(specs) <= 30)
    check_known(K.product(specs), seed)


@given(signs=st.lists(SIGNS, min_size=1, max_size=3), seed=SEED)
@example(signs=[[1, -1], [1, -1], [1, -1]], seed=0)  # three boosts on disjoint pairs (issue 12)
@example(signs=[[1, -1, -1, -1]], seed=1)  # so(1, 3): three boosts, closed form 1.5 T log w
def test_quadratic_forms_of_random_signature(signs, seed):
    assume(sum(len(s) for s in signs) <= 10)
    check_known(K.quadratic_forms(signs), seed, n_points=4)


@given(ends=st.tuples(st.integers(2, 4), st.integers(2, 4)), depth=st.integers(2, 3), data=st.data(), seed=SEED)
def test_deep_linear_chains(ends, depth, data, seed):
    lo = 1 if depth == 2 else 2  # width 1 between hidden layers: see test_chain_with_a_vector_factor
    hidden = [data.draw(st.integers(lo, min(ends))) for _ in range(depth - 1)]
    widths = [ends[0], *hidden, ends[1]]
    assume(sum(widths[i] * widths[i + 1] for i in range(depth)) <= 30)
    check_known(K.linear_chain(widths), seed)


@given(d_in=st.integers(2, 4), hidden=st.integers(1, 6), d_out=st.integers(1, 2), seed=SEED)
def test_relu_layers_of_random_width(d_in, hidden, d_out, seed):
    assume(hidden * (d_in + d_out) <= 30)
    check_known(K.product([("relu", (d_in, hidden, d_out))]), seed)


@given(dim=st.integers(1, 6), extra=st.integers(0, 3), seed=SEED)
def test_smooth_maps_without_symmetry(dim, extra, seed):
    check_known(K.smooth_none(dim, dim + extra, seed), seed)


def test_chain_with_a_vector_factor_has_the_extra_rotations():
    """chain(2, 1, 2, 2): besides gl(1) ⊕ gl(2), δW3 = e_i (J W2)^T (found by a thorough run)."""
    p, gens = K.chain_vector_extras()
    alg = discover_symmetries(p, seed=0)
    assert alg.dim == 7
    assert max_principal_angle(_flat(gens), _flat(alg.generators)) < 1e-8
