"""Numerical discovery of the complete algebra of linear symmetries of a parametrization.

We look for all matrices ``A`` with ``J_phi(theta) A theta = 0`` for every ``theta``. Writing
``A = sum_i c_i B_i`` over an ansatz (all ``D x D`` matrices, or a structured family, see
:mod:`implicitbias.symmetry.ansatz`), each random point ``theta_p`` gives linear constraints
``Q_p [B_1 theta_p, ..., B_p theta_p] c = 0`` where ``Q_p`` is an orthonormal basis of the
row space of ``J(theta_p)``. The solution space is the null space (SVD, float64) of the stacked
constraints after column equilibration. Then:

* **rank stability**: the null basis is checked against constraints at fresh points (must be
  annihilated); if not, those rows are added and the SVD repeated;
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

__all__ = ["discover_symmetries", "DENSE_MAX_DIM"]

log = logging.getLogger(__name__)

DENSE_MAX_DIM = 40
"""``mode="auto"`` uses the dense ansatz up to this D (cost grows like D^6), else structured."""

Mode = Literal["auto", "dense", "structured"]


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
    max_rounds: int = 4,
    threads: int | None = 1,
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
        n_points: number of random points (default: enough for ~1.3x as many constraints
            as unknowns).
        max_rounds: rounds of "check on fresh points, add rows if needed".
        threads: torch threads for the factorizations (restored afterwards; ``None`` keeps
            the current setting). One thread is much faster on a busy shared CPU.

    Returns:
        A :class:`SymmetryAlgebra` with fixed echelon-basis generators (float64) and
        ``info`` = {mode, ansatz_size, n_points, rank_history, closure_residual,
        null_gap, seconds}.

    Raises:
        UserInputError: the function fails, returns a non-tensor or non-finite values.
    """
    with lapack_threads(threads):
        return _discover(p, seed, mode, rtol, n_points, max_rounds)


def _discover(
    p: Parametrization, seed: int, mode: str, rtol: float, n_points: int | None, max_rounds: int
) -> SymmetryAlgebra:
    t0 = time.perf_counter()
    p.validate()
    if mode == "auto":
        mode = "dense" if p.dim <= DENSE_MAX_DIM else "structured"
    if mode not in ("dense", "structured"):
        raise UserInputError(f"unknown discovery mode {mode!r} (auto, dense, structured)")
    ansatz = make_ansatz(p, mode)
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
    rows += [_constraints(p, ansatz, point(), rtol) for _ in range(n_points - 1)]
    history: list[tuple[int, int]] = []
    n_used = n_points
    for _ in range(max_rounds):
        k_mat = torch.cat(rows)
        colnorm = k_mat.norm(dim=0).clamp(min=1e-300)
        null, svals = constraint_null_space(k_mat / colnorm, rtol)
        history.append((n_used, null.shape[1]))
        extra_n = max(2, n_points // 4)
        extra = torch.cat([_constraints(p, ansatz, point(), rtol) for _ in range(extra_n)])
        n_used += extra_n
        scaled = extra / colnorm
        resid = (scaled @ null).norm(dim=0) if null.shape[1] else torch.zeros(0)
        bound = rtol * 1e3 * float(scaled.norm())
        if resid.numel() == 0 or float(resid.max()) <= bound:
            history.append((n_used, null.shape[1]))
            break
        rows.append(extra)
    else:
        log.warning("discover_symmetries: null space not stable after %d rounds", max_rounds)
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
    rank = int(ansatz.size - null.shape[1])
    nz = svals[svals > 0]
    gap = float(svals[rank - 1] / svals[0]) if 0 < rank <= svals.numel() and float(svals[0]) > 0 else math.nan
    alg = SymmetryAlgebra(gens, p, _names(p, gens))
    alg.info.update(
        mode=mode,
        ansatz_size=ansatz.size,
        n_points=n_used,
        rank_history=history,
        smallest_kept_singular_value=gap,
        largest_dropped_singular_value=float(svals[rank] / svals[0]) if rank < svals.numel() and nz.numel() else 0.0,
    )
    alg.info["closure_residual"] = alg.commutator_residual()
    alg.info["seconds"] = time.perf_counter() - t0
    return alg


def _names(p: Parametrization, gens: torch.Tensor) -> list[str]:
    from implicitbias.symmetry.describe import describe_generator

    return [describe_generator(p, g) for g in gens]
