"""Numerical discovery of the complete algebra of linear symmetries of a parametrization.

We look for all matrices ``A`` with ``J_phi(theta) A theta = 0`` for every ``theta``. Writing
``A = sum_i c_i B_i`` over an ansatz (all ``D x D`` matrices, or a structured family, see
:mod:`implicitbias.symmetry.ansatz`), each random point ``theta_p`` gives linear constraints
``Q_p [B_1 theta_p, ..., B_p theta_p] c = 0`` where ``Q_p`` is an orthonormal basis of the
row space of ``J(theta_p)``. The solution space is the null space (float64) of the stacked
constraints after column equilibration. Then:

* **rank stability**: the null basis ``N`` of the first batch is checked against constraints
  at fresh points. Constraints only ever shrink the solution space, so a fresh batch ``K_b``
  either annihilates ``N`` (all singular values of ``K_b N`` at most ``rtol ||K_b||_F``) or
  the directions it does not annihilate are removed (``N <- N null(K_b N)``, an SVD of a
  small matrix; no refactorisation of the whole system). Discovery stops after
  ``stable_rounds`` consecutive fresh batches that remove nothing; if the point budget runs
  out first it raises :class:`DiscoveryError`: an unstable null space is never returned;
* **size**: ansätze with more than ``max_unknowns`` coefficients are refused up front with
  :class:`DiscoveryError` (the first factorisation costs ``O(p^3)`` time, ``O(p^2)`` memory);
* **redundancy**: coefficient vectors that materialise to the zero matrix are dropped;
* **basis**: the span of the generator matrices gets a fixed reduced-echelon basis
  (θ-independent, sparse; reference §9.2 — never an orthonormalised basis *at* θ);
* **closure**: the commutator residual ``[A_a, A_b]`` vs the span is reported in
  ``alg.info["closure_residual"]``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Literal

import torch

from implicitbias.errors import UserInputError
from implicitbias.seeding import torch_generator
from implicitbias.symmetry.algebra import SymmetryAlgebra
from implicitbias.symmetry.ansatz import make_ansatz
from implicitbias.symmetry.linalg import (
    constraint_null_space,
    echelon_basis,
    lapack_threads,
    span_basis,
)
from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["discover_symmetries", "DiscoveryError", "DENSE_MAX_DIM", "MAX_UNKNOWNS"]

log = logging.getLogger(__name__)

DENSE_MAX_DIM = 40
"""``mode="auto"`` uses the dense ansatz up to this D (cost grows like D^6), else structured."""

MAX_UNKNOWNS = 5000
"""Largest ansatz (number of unknown coefficients) the dense null-space solve accepts by default.

The first factorisation is an ``eigh`` of a ``p x p`` Gram: at ``p = 2401`` (``relu_net(8, 32,
1)``) about 15 s on one busy core; ``p = 8833`` (``relu_net(8, 64, 1)``) would need ~50x that
and 0.6 GiB per copy of the Gram."""

Mode = Literal["auto", "dense", "structured"]


class DiscoveryError(UserInputError):
    """Discovery cannot give a reliable answer: the ansatz is too large for the dense solve,
    or the null space of the constraints did not stabilise within the point budget."""


def _constraints(p: Parametrization, ansatz, theta: torch.Tensor, rtol: float) -> torch.Tensor:
    """Rows ``Q J-rowspace`` times ansatz fields at ``theta``: ``(rank J, ansatz.size)``."""
    jac = p.jacobian(theta).to(torch.float64)
    _, s, vh = torch.linalg.svd(jac, full_matrices=False)
    if s.numel() == 0 or float(s[0]) == 0.0:
        return torch.zeros(0, ansatz.size, dtype=torch.float64)
    r = int((s > rtol * float(s[0])).sum())
    return vh[:r] @ ansatz.fields(theta).T


def discover_symmetries(
    p: Parametrization,
    seed: int = 0,
    mode: Mode = "auto",
    rtol: float = 1e-9,
    n_points: int | None = None,
    max_rounds: int = 40,
    threads: int | None = 1,
    stable_rounds: int = 2,
    max_points: int | None = None,
    max_unknowns: int = MAX_UNKNOWNS,
) -> SymmetryAlgebra:
    """Find the complete algebra of linear symmetries ``{A : J(theta) A theta = 0 for all theta}``.

    Args:
        p: the parametrization.
        seed: seeds the random points (counter-based, see :mod:`implicitbias.seeding`).
        mode: ``"dense"`` (all D x D matrices; exact and complete, D <= ~64),
            ``"structured"`` (per-tensor left/right multiplications, elementwise scalings,
            same-shape mixing; for large models) or ``"auto"`` (dense iff
            ``D <= DENSE_MAX_DIM``).
        rtol: relative singular-value threshold for null spaces.
        n_points: points of the first batch (default: enough for ~1.3x as many constraints
            as unknowns).
        max_rounds: at most this many fresh batches after the first.
        threads: torch threads for the factorizations (restored afterwards; ``None`` keeps
            the current setting). One thread is much faster on a busy shared CPU.
        stable_rounds: consecutive fresh batches that must leave the null space unchanged.
        max_points: point budget (default ``max(10 * n_points, 64)``).
        max_unknowns: refuse ansätze with more coefficients than this (see
            :data:`MAX_UNKNOWNS`).

    Returns:
        A :class:`SymmetryAlgebra` with fixed echelon-basis generators (float64) and
        ``info`` = {mode, ansatz_size, n_points, rank_history, fresh_residual,
        smallest_kept_singular_value, largest_dropped_singular_value, closure_residual,
        seconds}; ``rank_history`` lists ``(points used, null-space dimension)`` per batch
        (including ansatz redundancies, removed afterwards).

    Raises:
        UserInputError: the function fails, returns a non-tensor or non-finite values.
        DiscoveryError: the ansatz is too large, or the null space did not stabilise.
    """
    with lapack_threads(threads):
        return _discover(p, seed, mode, rtol, n_points, max_rounds, stable_rounds, max_points, max_unknowns)


def _discover(
    p: Parametrization, seed: int, mode: str, rtol: float, n_points: int | None, max_rounds: int,
    stable_rounds: int, max_points: int | None, max_unknowns: int,
) -> SymmetryAlgebra:
    t0 = time.perf_counter()
    p.validate()
    if mode == "auto":
        mode = "dense" if p.dim <= DENSE_MAX_DIM else "structured"
    if mode not in ("dense", "structured"):
        raise UserInputError(f"unknown discovery mode {mode!r} (auto, dense, structured)")
    ansatz = make_ansatz(p, mode)
    if ansatz.size > max_unknowns:
        raise DiscoveryError(
            f"symmetry discovery for {p.name or 'this model'} (D = {p.dim}) needs a {mode} ansatz of "
            f"{ansatz.size} unknowns, above the limit of {max_unknowns}: the dense null-space solve "
            f"would take ~{ansatz.size ** 2 * 8 / 2**30:.1f} GiB per Gram copy and O(p^3) time; "
            "use a smaller model, or call discover_symmetries(..., max_unknowns=N) from Python to force it"
        )
    gen = torch_generator(seed, "discover-symmetries", p.name)

    def point() -> torch.Tensor:
        return torch.randn(p.dim, generator=gen, dtype=torch.float64)

    try:
        rows = [_constraints(p, ansatz, point(), rtol)]
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - user-function failure under autograd
        raise UserInputError(f"could not differentiate the function: {type(e).__name__}: {e}".splitlines()[0]) from None
    per_point = max(1, rows[0].shape[0])
    if n_points is None:
        n_points = math.ceil(1.3 * ansatz.size / per_point) + 2
    if max_points is None:
        max_points = max(10 * n_points, 64)
    rows += [_constraints(p, ansatz, point(), rtol) for _ in range(n_points - 1)]
    k_mat = torch.cat(rows)
    del rows
    colnorm = k_mat.norm(dim=0)
    colnorm = torch.where(colnorm > 1e-12 * float(colnorm.max().clamp(min=1e-300)), colnorm, torch.ones_like(colnorm))
    null, svals = constraint_null_space(k_mat / colnorm, rtol)
    del k_mat
    history: list[tuple[int, int]] = [(n_points, null.shape[1])]
    n_used, stable, fresh_resid = n_points, 0, 0.0
    # batches grow 1.5x while they still remove directions; stability checks use the base size
    base_n = grow_n = extra_n = max(2, n_points // 4)
    for _ in range(max_rounds):
        if stable >= stable_rounds or null.shape[1] == 0 or n_used + extra_n > max_points:
            break
        null, removed, resid = _restrict(
            torch.cat([_constraints(p, ansatz, point(), rtol) for _ in range(extra_n)]) / colnorm, null, rtol)
        n_used += extra_n
        history.append((n_used, null.shape[1]))
        if removed:
            stable, fresh_resid = 0, 0.0
            grow_n = extra_n = math.ceil(1.5 * grow_n)
        else:
            stable += 1
            fresh_resid = max(fresh_resid, resid)
            extra_n = base_n
    if stable < stable_rounds and null.shape[1] > 0:
        raise DiscoveryError(
            f"symmetry discovery for {p.name or 'this model'} did not converge: the null space of the "
            f"constraints still shrank after {n_used} random points (history {history}); "
            "the algebra would be wrong. Try a larger max_points, another seed or a smaller model"
        )
    coeffs = null / colnorm[:, None]
    if coeffs.shape[1]:
        # drop ansatz redundancies (ker of c -> A): combinations whose fields vanish at
        # several random points are the zero matrix
        fl = torch.cat([coeffs.T @ ansatz.fields(point()) for _ in range(4)], dim=1)
        _, fs, fvh = torch.linalg.svd(fl.T, full_matrices=False)
        keep = int((fs > 1e-8 * float(fs[0])).sum()) if float(fs[0]) > 0 else 0
        coeffs = coeffs @ fvh[:keep].T
    mats = ansatz.materialize(coeffs) if coeffs.shape[1] else torch.zeros(0, p.dim, p.dim, dtype=torch.float64)
    vecs = mats.reshape(mats.shape[0], p.dim * p.dim)
    if vecs.shape[0]:
        # work on the support columns only (structured generators are very sparse)
        vecs = torch.where(vecs.abs() > 1e-11 * vecs.abs().max(), vecs, torch.zeros_like(vecs))
        log.debug("generator support: %d of %d entries", int((vecs != 0).any(0).sum()), vecs.shape[1])
        support = (vecs != 0).any(dim=0)
        ech = echelon_basis(span_basis(vecs[:, support], rtol=1e-8))
        full = torch.zeros(ech.shape[0], vecs.shape[1], dtype=torch.float64)
        full[:, support] = ech
        # sign convention: the first non-zero entry (flat order) of each generator is positive
        first = (full != 0).float().argmax(dim=1)
        full *= torch.sign(full.gather(1, first[:, None]))
        full = full[torch.argsort(first, stable=True)]
        gens = full.reshape(-1, p.dim, p.dim)
    else:
        gens = mats
    rank = int(ansatz.size - history[0][1])  # of the first batch, whose singular values svals are
    nz = svals[svals > 0]
    gap = float(svals[rank - 1] / svals[0]) if 0 < rank <= svals.numel() and float(svals[0]) > 0 else math.nan
    alg = SymmetryAlgebra(gens, p, _names(p, gens))
    alg.info.update(
        mode=mode,
        ansatz_size=ansatz.size,
        n_points=n_used,
        rank_history=history,
        fresh_residual=fresh_resid,
        smallest_kept_singular_value=gap,
        largest_dropped_singular_value=float(svals[rank] / svals[0]) if rank < svals.numel() and nz.numel() else 0.0,
    )
    alg.info["closure_residual"] = alg.commutator_residual()
    alg.info["seconds"] = time.perf_counter() - t0
    return alg


def _restrict(k_new: torch.Tensor, null: torch.Tensor, rtol: float) -> tuple[torch.Tensor, int, float]:
    """Intersect ``span(null)`` with the null space of fresh rows ``k_new``.

    Returns ``(null', removed, residual)``: an orthonormal basis of the directions of
    ``span(null)`` that ``k_new`` annihilates (singular values of ``k_new @ null`` at most
    ``rtol * ||k_new||_F``), how many directions were removed, and the largest relative
    singular value among those kept.
    """
    m = k_new @ null
    ref = float(k_new.norm()) or 1.0
    _, sv, vh = torch.linalg.svd(m, full_matrices=m.shape[0] < m.shape[1])  # only V is needed
    s_full = torch.zeros(null.shape[1], dtype=torch.float64)
    s_full[: sv.numel()] = sv
    keep = s_full <= rtol * ref
    removed = int((~keep).sum())
    resid = float(s_full[keep].max()) / ref if bool(keep.any()) else 0.0
    if removed == 0:
        return null, 0, resid
    basis = null @ vh[keep].T
    return torch.linalg.qr(basis).Q, removed, resid


def _names(p: Parametrization, gens: torch.Tensor) -> list[str]:
    from implicitbias.symmetry.describe import describe_generator

    return [describe_generator(p, g) for g in gens]
