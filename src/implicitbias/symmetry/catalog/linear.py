"""Linear catalogue entries: Hadamard / deep diagonal, matrix factorization, cumsum-Hadamard.

Closed forms (reference §6, moment-map gauge, up to additive constants):

* ``hadamard(d, L)``: ``w = u_1 * ... * u_L``; group ``(R_{>0})^{d(L-1)}``;
  ``R = T (L-1)/L sum_i log|w_i|`` (per coordinate ``det C = L |w|^{2(L-1)/L}``).
* ``factorization(m, n, r)``: ``W = U V^T``; group ``GL(r)``;
  ``R = (T/2)[sum_i log s_i + sum_{i<j} log(s_i + s_j)]``, ``s`` = singular values of ``W``.
* ``cumsum_hadamard(n)``: ``w = cumsum(a * b)``; ``R = (T/2) sum_t log|Delta w_t|``.
"""

from __future__ import annotations

import torch

from implicitbias.symmetry.algebra import SymmetryAlgebra
from implicitbias.symmetry.catalog.base import (
    F64,
    CatalogEntry,
    block_generator,
    right_mult,
    unit,
)
from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["hadamard", "factorization", "cumsum_hadamard", "spectral_bias_unit"]


def spectral_bias_unit(w: torch.Tensor, r: int) -> torch.Tensor:
    """``0.5 [sum_i log s_i + sum_{i<j} log(s_i + s_j)]`` over the top ``r`` singular values.

    Args:
        w: ``(..., m, n)`` matrices.
        r: number of singular values (the factorization's inner dimension).
    """
    s = torch.linalg.svdvals(w.to(F64))[..., :r]
    iu = torch.triu_indices(r, r, offset=1)
    pair = s[..., iu[0]] + s[..., iu[1]]
    return 0.5 * (torch.log(s).sum(-1) + torch.log(pair).sum(-1))


def hadamard(d: int, depth: int = 2) -> CatalogEntry:
    """Deep diagonal (Hadamard) parametrization ``w = u_1 * ... * u_L`` of ``w in R^d``."""
    if d < 1 or depth < 2:
        raise ValueError("hadamard needs d >= 1 and depth >= 2")
    names = [f"u{i + 1}" for i in range(depth)]

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        w = q[names[0]]
        for n in names[1:]:
            w = w * q[n]
        return w

    p = Parametrization(fn, {n: (d,) for n in names}, name=f"hadamard({d}, depth={depth})")
    gens, gnames = [], []
    for i in range(d):
        for k in range(depth - 1):
            e = torch.zeros(d, dtype=F64)
            e[i] = 1.0
            gens.append(block_generator(p, {names[k]: torch.diag(e), names[k + 1]: -torch.diag(e)}))
            gnames.append(f"rescale {names[k]}[{i}] up, {names[k + 1]}[{i}] down")
    alg = SymmetryAlgebra(torch.stack(gens), p, gnames)

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        w = fn(p.unflatten(th))
        return (depth - 1) / depth * torch.log(w.abs()).sum(-1)

    return CatalogEntry(
        name=p.name, parametrization=p, algebra=alg, full_dim=d * (depth - 1),
        formula=f"T*({depth}-1)/{depth}*sum log|w_i|", bias_unit=bias_unit,
        group=f"(R>0)^{d * (depth - 1)}",
    )


def factorization(m: int, n: int, r: int) -> CatalogEntry:
    """Matrix factorization ``W = U V^T`` with ``U (m, r)``, ``V (n, r)``; group ``GL(r)``."""
    if r > min(m, n):
        raise ValueError("factorization(m, n, r) needs r <= min(m, n)")
    p = Parametrization(lambda q: q["U"] @ q["V"].T, {"U": (m, r), "V": (n, r)},
                        name=f"factorization({m}, {n}, {r})")
    gens, gnames = [], []
    for i in range(r):
        for j in range(r):
            e = unit(r, i, j)
            # xi_E = (U E, -V E^T)
            gens.append(block_generator(p, {"U": right_mult((m, r), e), "V": right_mult((n, r), -e.T)}))
            gnames.append(f"GL: U[:,{j}] += U[:,{i}], V[:,{i}] -= V[:,{j}]")
    alg = SymmetryAlgebra(torch.stack(gens), p, gnames)

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        q = p.unflatten(th)
        return spectral_bias_unit(q["U"] @ q["V"].transpose(-1, -2), r)

    return CatalogEntry(
        name=p.name, parametrization=p, algebra=alg, full_dim=r * r,
        formula="(T/2)(sum log s_i + sum_{i<j} log(s_i+s_j)), s = svd(UV^T)",
        bias_unit=bias_unit, group=f"GL({r})",
    )


def cumsum_hadamard(n: int) -> CatalogEntry:
    """Cumulative-sum Hadamard (TV design) ``w = cumsum(a * b)``, ``a, b in R^n``."""
    p = Parametrization(lambda q: torch.cumsum(q["a"] * q["b"], dim=-1), {"a": (n,), "b": (n,)},
                        name=f"cumsum_hadamard({n})")
    gens, gnames = [], []
    for t in range(n):
        e = torch.zeros(n, dtype=F64)
        e[t] = 1.0
        gens.append(block_generator(p, {"a": torch.diag(e), "b": -torch.diag(e)}))
        gnames.append(f"rescale a[{t}] up, b[{t}] down")
    alg = SymmetryAlgebra(torch.stack(gens), p, gnames)

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        w = p.fn(p.unflatten(th))
        dw = torch.diff(w, dim=-1, prepend=torch.zeros_like(w[..., :1]))
        return 0.5 * torch.log(dw.abs()).sum(-1)

    return CatalogEntry(
        name=p.name, parametrization=p, algebra=alg, full_dim=n,
        formula="(T/2) sum log|Delta w_t|", bias_unit=bias_unit, group=f"(R>0)^{n}",
    )
