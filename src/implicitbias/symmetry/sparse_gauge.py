"""Moment maps, Kempf--Ness balancing and the induced bias for sparse symmetry algebras.

The same mathematics as :mod:`implicitbias.symmetry.gauge`, matrix-free:

* **symmetric part**: coefficient combinations ``sum_a c_a A_a`` with zero skew part, solved
  separately on each connected component of generators that share skew entries (a
  rescaling is symmetric on its own; ``E_xy`` pairs with ``E_yx``);
* **moment map** ``chi_a = 0.5 theta^T S_a theta = 0.5 (F_S theta)_a``;
* **balance**: Newton steps ``c = -C^+ chi`` with ``C = F_S F_S^T`` (``(m, m)``), then
  ``theta <- exp(sum_a c_a S_a) theta``, exactly ``exp(diag) * theta`` when every generator
  is diagonal (rescalings) and otherwise a Taylor series on the vector with a sparse ``(D, D)``
  matvec; backtracking on ``||theta||^2`` (convex along the group, Kempf--Ness);
* **induced bias** ``(T/2) log det C`` at the balanced point, ``-inf`` on singular orbits.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components

from implicitbias.symmetry.gauge import SINGULAR_RTOL, SingularOrbitWarning, expm_action
from implicitbias.symmetry.linalg import lapack_threads, null_space, safe_logdet
from implicitbias.symmetry.sparse_algebra import SparseSymmetryAlgebra, _batched, _gram, _point

__all__ = ["symmetric_part", "moment_map", "balance", "induced_bias"]

F64 = torch.float64


def symmetric_part(alg: SparseSymmetryAlgebra) -> SparseSymmetryAlgebra:
    """The subalgebra of symmetric generators ``{sum c_a A_a : sum c_a (A_a - A_a^T) = 0}``."""
    gen, row, col, val = alg.triplets()
    k, d = alg.dim, alg.D
    skew = SparseSymmetryAlgebra(d, torch.cat([gen, gen]), torch.cat([row, col]), torch.cat([col, row]),
                                 torch.cat([val, -val]), k=k)
    sg, sr, sc, sv = skew.triplets()
    sv = torch.where(sv.abs() > 1e-13 * max(float(val.abs().max()) if val.numel() else 1.0, 1e-300), sv, 0 * sv)
    bad = torch.zeros(k, dtype=torch.bool)
    bad[sg[sv != 0]] = True
    if not bool(bad.any()):
        alg.info.setdefault("self_adjoint", True)
        alg.info.setdefault("compact_dim", 0)
        return alg
    keep_s = sv != 0
    sg, sr, sc, sv = sg[keep_s], sr[keep_s], sc[keep_s], sv[keep_s]
    keys, kinv = torch.unique(sr * d + sc, return_inverse=True)
    incid = sp.csr_matrix((np.ones(len(sg)), (kinv.numpy(), sg.numpy())), shape=(len(keys), k))
    n_comp, label = connected_components(incid.T @ incid, directed=False)
    label = torch.from_numpy(label)
    coeffs: list[torch.Tensor] = []  # (k,) coefficient vectors of the symmetric part
    names: list[str] = []
    groups: list[str] = []
    for a in (~bad).nonzero().flatten().tolist():
        e = torch.zeros(k, dtype=F64)
        e[a] = 1.0
        coeffs.append(e)
        names.append(alg.names[a])
        groups.append(alg.groups[a])
    for comp in label[bad].unique().tolist():
        members = ((label == comp) & bad).nonzero().flatten()
        m_idx = {int(g): i for i, g in enumerate(members)}
        sel = torch.isin(sg, members)
        rows_k = torch.unique(kinv[sel], return_inverse=True)[1]
        mat = torch.zeros(int(rows_k.max()) + 1, len(members), dtype=F64)
        mat.index_put_((rows_k, torch.tensor([m_idx[int(g)] for g in sg[sel]])), sv[sel], accumulate=True)
        with lapack_threads(1):
            ns, _ = null_space(mat, rtol=1e-10)
        for j in range(ns.shape[1]):
            e = torch.zeros(k, dtype=F64)
            e[members] = ns[:, j]
            coeffs.append(e)
            names.append(f"symmetric part of {alg.names[int(members[0])]} ...")
            groups.append(alg.groups[int(members[0])])
    c = torch.stack(coeffs)  # (m, k)
    # combined triplets sum_a c[m, a] A_a, symmetrised exactly
    mg, ag = c.nonzero(as_tuple=True)
    order = torch.argsort(gen, stable=True)
    gstart = torch.searchsorted(gen[order], torch.arange(k + 1))
    parts_g, parts_r, parts_c, parts_v = [], [], [], []
    for m, a in zip(mg.tolist(), ag.tolist(), strict=True):
        sl = order[gstart[a]: gstart[a + 1]]
        w = c[m, a] * val[sl]
        parts_g += [torch.full((len(sl),), m), torch.full((len(sl),), m)]
        parts_r += [row[sl], col[sl]]
        parts_c += [col[sl], row[sl]]
        parts_v += [0.5 * w, 0.5 * w]
    sym = SparseSymmetryAlgebra(d, torch.cat(parts_g), torch.cat(parts_r), torch.cat(parts_c), torch.cat(parts_v),
                                k=len(coeffs), parametrization=alg.parametrization, names=names, groups=groups,
                                info={"self_adjoint": None})
    return sym


def moment_map(alg: SparseSymmetryAlgebra, theta: torch.Tensor) -> torch.Tensor:
    """``chi_a = 0.5 theta^T S_a theta`` for the symmetric part; ``(m,)`` or ``(..., m)`` float64."""
    sym = alg.symmetric_part()

    def one(t: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.from_numpy(sym.fields_scipy(t) @ t.numpy())

    return _batched(theta, alg.D, one, (sym.dim,))


def _inf_norms(sym: SparseSymmetryAlgebra) -> torch.Tensor:
    gen, row, _, val = sym.triplets()
    rs = torch.zeros(sym.dim, sym.D, dtype=F64) if sym.dim * sym.D <= 10**7 else None
    if rs is not None:
        rs.index_put_((gen, row), val.abs(), accumulate=True)
        return rs.amax(1)
    key, inv = torch.unique(gen * sym.D + row, return_inverse=True)
    s = torch.zeros(key.numel(), dtype=F64).index_add_(0, inv, val.abs())
    out = torch.zeros(sym.dim, dtype=F64)
    return out.scatter_reduce_(0, key // sym.D, s, reduce="amax")


def _exp_action(sym: SparseSymmetryAlgebra, c: torch.Tensor, th: torch.Tensor, gnorm: torch.Tensor) -> torch.Tensor:
    gen, row, col, val = sym.triplets()
    w = c[gen] * val
    if sym.diagonal:
        x = torch.zeros(sym.D, dtype=F64).index_add_(0, row, w)
        return torch.exp(x) * th
    xm = sp.csr_matrix((w.numpy(), (row.numpy(), col.numpy())), shape=(sym.D, sym.D))
    return expm_action(lambda v: torch.from_numpy(xm @ v.numpy()), th, float(c.abs() @ gnorm))


def _balance_one(sym: SparseSymmetryAlgebra, th: torch.Tensor, tol: float, max_iter: int,
                 gnorm: torch.Tensor) -> tuple[torch.Tensor, bool, int]:
    for it in range(max_iter):
        f = sym.fields_scipy(th)
        chi = 0.5 * torch.from_numpy(f @ th.numpy())
        n2 = float(th @ th)
        if n2 == 0.0 or float(chi.abs().max()) <= tol * n2:
            return th, True, it
        cmat = _gram(f)
        chol, info = torch.linalg.cholesky_ex(cmat)
        step = (-torch.cholesky_solve(chi[:, None], chol)[:, 0] if int(info) == 0
                else -torch.linalg.lstsq(cmat, chi[:, None], driver="gelsd").solution[:, 0])
        if not torch.isfinite(step).all():
            return th, False, it
        t = 1.0
        for _ in range(40):
            new = _exp_action(sym, t * step, th, gnorm)
            if float(new @ new) <= n2 * (1.0 + 1e-13):
                break
            t *= 0.5
        else:
            return th, False, it
        th = new
    chi = 0.5 * torch.from_numpy(sym.fields_scipy(th) @ th.numpy())
    return th, float(chi.abs().max()) <= tol * max(float(th @ th), 1e-300), max_iter


def balance(alg: SparseSymmetryAlgebra, theta: torch.Tensor, tol: float = 1e-12, max_iter: int = 100,
            warn: bool = True) -> torch.Tensor:
    """The minimum-norm point of each orbit (matrix-free Kempf--Ness Newton, float64).

    Args:
        alg: the algebra; only its symmetric part moves the point.
        theta: ``(D,)`` or ``(..., D)``.
        tol: stop when ``max_a |chi_a| <= tol * ||theta||^2``.
        max_iter: Newton steps per point.
        warn: :class:`SingularOrbitWarning` for orbits that did not converge.
    """
    sym = alg.symmetric_part()
    th = torch.as_tensor(theta).detach().to(F64).cpu()
    if sym.dim == 0:
        return th.clone()
    gnorm = _inf_norms(sym)
    failed = 0

    def one(t: torch.Tensor) -> torch.Tensor:
        nonlocal failed
        with lapack_threads(1):
            out, ok, _ = _balance_one(sym, t.clone(), tol, max_iter, gnorm)
        failed += int(not ok)
        return out

    out = _batched(th, alg.D, one, (alg.D,))
    if failed and warn:
        warnings.warn(f"balance: {failed} orbit(s) did not reach moment map 0 (non-closed orbit)",
                      SingularOrbitWarning, stacklevel=2)
    return out


def induced_bias(alg: SparseSymmetryAlgebra, theta: torch.Tensor, temperature: float,
                 balanced: bool = False) -> torch.Tensor:
    """``(T/2) log det C(balance(theta))``, ``C = F_S F_S^T``; ``-inf`` on singular orbits.

    Same conventions as :func:`implicitbias.symmetry.gauge.induced_bias` (moment-map gauge,
    defined up to an additive constant fixed by the basis).
    """
    sym = alg.symmetric_part()
    th = torch.as_tensor(theta).detach().to(F64).cpu()
    if sym.dim == 0:
        return torch.zeros(th.shape[:-1], dtype=F64)
    if not balanced:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularOrbitWarning)
            th = balance(alg, th)
    snorm2 = float(_inf_norms(sym).max()) ** 2
    n_sing = 0

    def one(t: torch.Tensor) -> torch.Tensor:
        nonlocal n_sing
        c = _gram(sym.fields_scipy(_point(t, alg.D)))
        with lapack_threads(1):
            ld, singular = safe_logdet(c)
            lam = float(torch.linalg.eigvalsh(c)[0])
        if bool(singular) or lam <= SINGULAR_RTOL * snorm2 * float(t @ t):
            n_sing += 1
            return torch.tensor(-math.inf, dtype=F64)
        return 0.5 * float(temperature) * ld

    out = _batched(th, alg.D, one, ())
    if n_sing:
        warnings.warn(f"induced_bias: {n_sing} point(s) on singular orbits; returning -inf there",
                      SingularOrbitWarning, stacklevel=2)
    return out
