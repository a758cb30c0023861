"""Generator bookkeeping of the scalable discovery: stability residuals, independence, residual system.

* :func:`relative_residual`: ``|K c| / (|c| max_slot |K_e|)`` of generators on fresh constraints;
* :class:`GeneratorSet`: accumulates slot generators (names, pivots) and builds the
  :class:`~implicitbias.symmetry.sparse_algebra.SparseSymmetryAlgebra`; checks a multi-slot
  candidate's independence on its fields at a random point;
* :func:`solve_residual`: the null space of the non-pivot ansatz columns (generators spanning
  several slots), when affordable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from implicitbias.seeding import torch_generator
from implicitbias.symmetry.families import Families
from implicitbias.symmetry.linalg import lapack_threads, null_space
from implicitbias.symmetry.parametrization import Parametrization
from implicitbias.symmetry.sparse_algebra import SparseSymmetryAlgebra
from implicitbias.symmetry.sparse_naming import name_generator, rref

__all__ = ["STABLE_RTOL", "zero_small_columns", "relative_residual", "GeneratorSet", "solve_residual"]

F64 = torch.float64
STABLE_RTOL = 1e-7
"""A generator is stable if ``|K c| <= STABLE_RTOL |c| max_slot |K_e|`` on fresh constraints."""
RESIDUAL_MAX_COLS = 1500
RESIDUAL_MAX_WORK = 2e7


def zero_small_columns(k: torch.Tensor) -> torch.Tensor:
    """Columns below ``1e-11`` of the largest column norm are rounding noise: set them to 0."""
    cn = k.norm(dim=0)
    k = k.clone()
    k[:, cn < 1e-11 * float(cn.max().clamp(min=1e-300))] = 0.0
    return k


def relative_residual(k: torch.Tensor, found: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``|K c| / (|c| max_{e in slot} |K_e|)`` for every generator of every slot.

    The scale is the largest constraint column of the generator's slot (not of its own
    support, which may be a parameter the function ignores, e.g. an attention key bias).
    """
    if not found:
        return torch.zeros(0, dtype=F64)
    kk = zero_small_columns(k)
    cn = kk.norm(dim=0)
    rows, cols, vals, den = [], [], [], []
    g = 0
    for c_idx, coeffs in found:
        nz = coeffs.nonzero()
        rows.append(c_idx[nz[:, 1]])
        cols.append(nz[:, 0] + g)
        vals.append(coeffs[nz[:, 0], nz[:, 1]])
        den.append(coeffs.norm(dim=1) * cn[c_idx].max())
        g += coeffs.shape[0]
    r, c, v = torch.cat(rows), torch.cat(cols), torch.cat(vals)
    cm = sp.csr_matrix((v.numpy(), (r.numpy(), c.numpy())), shape=(k.shape[1], g))
    num = torch.from_numpy(np.asarray(cm.T @ kk.numpy().T)).norm(dim=1)
    d = torch.cat(den)
    return torch.where(d > 0, num / d.clamp(min=1e-300), torch.zeros_like(num))


class GeneratorSet:
    """Accumulates generators as sparse coefficient rows and checks independence of new ones."""

    def __init__(self, p: Parametrization, fam: Families, seed: int) -> None:
        self.p, self.fam = p, fam
        self.g: list[torch.Tensor] = []
        self.e: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []
        self.names: list[str] = []
        self.groups: list[str] = []
        self.pivots: list[int] = []
        self.k = 0
        self._fields: tuple[int, Any] | None = None
        self._alg: tuple[int, SparseSymmetryAlgebra] | None = None
        g = torch_generator(seed, "sparse-discovery-independence", p.name)
        self.theta = torch.randn(p.dim, generator=g, dtype=F64)

    def add_block(self, cols: torch.Tensor, coeffs: torch.Tensor) -> None:
        """Add the generators ``coeffs`` ``(m, |cols|)`` (rows; pivots are the entries equal to 1)."""
        cn, cf = cols.numpy(), coeffs.to(F64).numpy()
        for row in cf:
            nz = np.flatnonzero(row)
            c, v = cn[nz], row[nz]
            self.g.append(torch.full((len(nz),), self.k, dtype=torch.long))
            self.e.append(torch.from_numpy(c.copy()))
            self.v.append(torch.from_numpy(v.copy()))
            name, group = name_generator(self.fam, c, v)
            self.names.append(name)
            self.groups.append(group)
            ones = np.flatnonzero(v == 1.0)
            self.pivots.append(int(c[ones[0]]) if len(ones) else int(c[0]))
            self.k += 1

    def algebra(self) -> SparseSymmetryAlgebra:
        if self._alg is not None and self._alg[0] == self.k:
            return self._alg[1]
        if not self.k:
            z = torch.zeros(0, dtype=torch.long)
            return SparseSymmetryAlgebra(self.p.dim, z, z, z, torch.zeros(0, dtype=F64), k=0, parametrization=self.p)
        tr = self.fam.triplets(torch.cat(self.g), torch.cat(self.e), torch.cat(self.v))
        alg = SparseSymmetryAlgebra(self.p.dim, *tr, k=self.k, parametrization=self.p,
                                    names=list(self.names), groups=list(self.groups))
        self._alg = (self.k, alg)
        return alg

    def add_if_independent(self, cols: torch.Tensor, row: torch.Tensor) -> bool:
        """Add the generator ``sum row[j] B_cols[j]`` if it is a non-zero operator outside the span."""
        nz = row.nonzero().flatten()
        if nz.numel() == 0:
            return False
        one = self.fam.triplets(torch.zeros(len(nz), dtype=torch.long), cols[nz], row[nz])
        cand = SparseSymmetryAlgebra(self.p.dim, *one, k=1)
        f = cand.fields_scipy(self.theta)
        fabs = SparseSymmetryAlgebra(self.p.dim, one[0], one[1], one[2], one[3].abs(), k=1).fields_scipy(self.theta.abs())
        fn = float((f.multiply(f)).sum()) ** 0.5
        if fn <= 1e-10 * float((fabs.multiply(fabs)).sum()) ** 0.5:
            return False  # the zero operator (an ansatz redundancy)
        if self.k:
            if self._fields is None or self._fields[0] != self.k:
                self._fields = (self.k, self.algebra().fields_scipy(self.theta))
            fl = self._fields[1]
            support = f.indices
            touch = torch.from_numpy(abs(fl[:, support]).sum(axis=1).A1 > 0)
            if bool(touch.any()):
                sub = fl[touch.nonzero().flatten().numpy()]
                gram = torch.from_numpy((sub @ sub.T).toarray())
                rhs = torch.from_numpy((sub @ f.T).toarray())
                with lapack_threads(1):
                    chol, info = torch.linalg.cholesky_ex(gram)
                    coef = (torch.cholesky_solve(rhs, chol) if int(info) == 0
                            else torch.linalg.lstsq(gram, rhs, driver="gelsd").solution)
                resid = f - sp.csr_matrix(coef.numpy().T) @ sub
                if float((resid.multiply(resid)).sum()) ** 0.5 <= 1e-7 * fn:
                    return False
        self.add_block(cols[nz], row[nz][None, :])
        return True


def solve_residual(p: Parametrization, fam: Families, gens: GeneratorSet, k_rows: torch.Tensor, draw: Any,
              rtol: float, mode: bool | str) -> str:
    """Generators that span several slots: null space of the non-pivot columns."""
    piv = torch.zeros(fam.size, dtype=torch.bool)
    piv[torch.tensor(gens.pivots, dtype=torch.long)] = True
    cols = (~piv).nonzero().flatten()
    m = len(cols)
    if mode is False or (mode == "auto" and (m > RESIDUAL_MAX_COLS or m * p.dim > RESIDUAL_MAX_WORK)):
        return f"skipped (residual system has {m} columns)"
    need = m + 16 - k_rows.shape[0]
    if need > 0:
        k_rows = torch.cat([k_rows, draw(need)])
    kk = zero_small_columns(k_rows)[:, cols]
    cn = kk.norm(dim=0)
    sc = torch.where(cn > 0, cn, torch.ones_like(cn))
    with lapack_threads(1):
        ns, _ = null_space(kk / sc, rtol)
    if ns.shape[1] == 0:
        return "complete (residual system has no null space)"
    coeffs = rref((ns / sc[:, None]).T)[0]
    check = draw(m // 2 + 16)
    added = 0
    for row in coeffs:
        if float(relative_residual(check, [(cols, row[None, :])]).max()) > STABLE_RTOL:
            continue
        added += int(gens.add_if_independent(cols, row))
    return f"complete ({added} multi-slot generator(s) added)"
