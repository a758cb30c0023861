"""Symmetry algebras with sparse generators: fields, Gram and orbit volume at millions of parameters.

A :class:`SparseSymmetryAlgebra` stores its ``k`` fixed generators ``A_a`` (``D x D``) as one
list of COO triplets ``(a, i, j, v)``: ``A_a[i, j] = v`` (duplicates summed). Nothing of size
``k * D`` or ``D^2`` is ever dense:

* ``fields(theta)``: the sparse ``(k, D)`` CSR matrix with rows ``A_a theta`` (one gather and
  one segment sum over the triplets);
* ``gram(theta) = F F^T`` (``(k, k)``, sparse product, dense result), ``log_volume = 0.5 log
  det G``;
* the symmetric part, the moment maps ``chi_a = 0.5 theta^T S_a theta`` and the Kempf--Ness
  balancing live in :mod:`implicitbias.symmetry.sparse_gauge`.

``generators`` (the dense ``(k, D, D)`` tensor) exists only when it fits in
:data:`DENSE_MAX_ENTRIES`; :meth:`to_dense` gives a :class:`SymmetryAlgebra` for small ``D``.
The basis is fixed (θ-independent), so log-determinants change with the basis only by a
constant (reference §9.2).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from implicitbias.errors import UserInputError
from implicitbias.symmetry.linalg import lapack_threads, safe_logdet

__all__ = ["SparseSymmetryAlgebra", "DENSE_MAX_ENTRIES"]

F64 = torch.float64
DENSE_MAX_ENTRIES = 50_000_000
"""``generators`` materialises ``(k, D, D)`` only up to this many entries (400 MB in float64)."""


class SparseSymmetryAlgebra:
    """A Lie algebra of linear symmetries with sparse generator matrices.

    Args:
        D: dimension of parameter space.
        gen, row, col, val: COO triplets, ``A_gen[row, col] += val`` (int64, int64, int64,
            float64; duplicates are summed, zeros dropped).
        k: number of generators (default ``gen.max() + 1``).
        parametrization: the parametrization it acts on (optional).
        names: one human name per generator, e.g. ``"rescale fc1 unit 17"``.
        groups: one group label per generator, e.g. ``"rescale fc1"`` or ``"GL(8) heads"``.
        info: diagnostics (discovery path, rows, timings, stability, ...).
    """

    def __init__(self, D: int, gen: torch.Tensor, row: torch.Tensor, col: torch.Tensor, val: torch.Tensor,  # noqa: N803
                 k: int | None = None, parametrization: Any = None, names: list[str] | None = None,
                 groups: list[str] | None = None, info: dict[str, Any] | None = None) -> None:
        self._D = int(D)
        k = int(gen.max()) + 1 if k is None and gen.numel() else int(k or 0)
        gen, row, col, val = _coalesce(k, self._D, gen.long(), row.long(), col.long(), val.to(F64))
        self._k = k
        self._gen, self._row, self._col, self._val = gen, row, col, val
        self.parametrization = parametrization
        self.names = list(names) if names is not None else [f"xi_{a}" for a in range(k)]
        self.groups = list(groups) if groups is not None else ["" for _ in range(k)]
        self.info: dict[str, Any] = dict(info or {})
        # fields structure: unique (a, i) pairs, each triplet's slot among them
        key = gen * self._D + row
        ukey, inv = torch.unique(key, sorted=True, return_inverse=True)
        self._f_rows, self._f_cols, self._f_inv = ukey // self._D, ukey % self._D, inv
        self._f_crow = torch.zeros(k + 1, dtype=torch.long)
        self._f_crow[1:] = torch.cumsum(torch.bincount(self._f_rows, minlength=k), 0)
        self._sym: SparseSymmetryAlgebra | None = None
        self.diagonal = bool((self._row == self._col).all())

    # ---- basics ------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """k, the dimension of the algebra."""
        return self._k

    @property
    def D(self) -> int:  # noqa: N802 - the paper's notation
        """The dimension of parameter space."""
        return self._D

    @property
    def nnz(self) -> int:
        """Stored non-zero entries of all generators together."""
        return int(self._val.numel())

    def triplets(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The coalesced COO triplets ``(gen, row, col, val)``."""
        return self._gen, self._row, self._col, self._val

    def group_counts(self) -> dict[str, int]:
        """``group label -> number of generators`` in order of first appearance."""
        out: dict[str, int] = {}
        for g in self.groups:
            out[g] = out.get(g, 0) + 1
        return out

    @property
    def generators(self) -> torch.Tensor:
        """Dense ``(k, D, D)`` float64 generators; only where they fit in memory."""
        n = self._k * self._D * self._D
        if n > DENSE_MAX_ENTRIES:
            raise UserInputError(
                f"dense generators would need {n * 8 / 2**30:.1f} GiB ({self._k} x {self._D} x {self._D}); "
                "use alg.fields(theta), alg.triplets() or alg.gram(theta)")
        out = torch.zeros(self._k, self._D, self._D, dtype=F64)
        out.index_put_((self._gen, self._row, self._col), self._val, accumulate=True)
        return out

    def to_dense(self) -> Any:
        """The same algebra as a dense :class:`~implicitbias.symmetry.SymmetryAlgebra` (small D)."""
        from implicitbias.symmetry.algebra import SymmetryAlgebra

        return SymmetryAlgebra(self.generators, self.parametrization, self.names, self.info)

    @classmethod
    def from_dense(cls, alg: Any) -> SparseSymmetryAlgebra:
        """The sparse form of a dense :class:`~implicitbias.symmetry.SymmetryAlgebra`."""
        g = alg.generators
        a, i, j = g.nonzero(as_tuple=True)
        return cls(alg.D, a, i, j, g[a, i, j], k=alg.dim, parametrization=alg.parametrization,
                   names=list(alg.names), info=dict(alg.info))

    def subset(self, index: torch.Tensor | list[int]) -> SparseSymmetryAlgebra:
        """The generators ``index`` (in that order) as a new algebra."""
        index = torch.as_tensor(index, dtype=torch.long)
        remap = torch.full((self._k,), -1, dtype=torch.long)
        remap[index] = torch.arange(len(index))
        keep = remap[self._gen] >= 0
        return SparseSymmetryAlgebra(
            self._D, remap[self._gen[keep]], self._row[keep], self._col[keep], self._val[keep],
            k=len(index), parametrization=self.parametrization,
            names=[self.names[i] for i in index.tolist()], groups=[self.groups[i] for i in index.tolist()],
            info=dict(self.info))

    # ---- geometry ----------------------------------------------------------------------
    def fields(self, theta: torch.Tensor) -> torch.Tensor:
        """Generator fields at one point: sparse CSR ``(k, D)``, row ``a`` = ``A_a theta`` (float64).

        Args:
            theta: ``(D,)``.
        """
        th = _point(theta, self._D)
        vals = torch.zeros(self._f_rows.numel(), dtype=F64)
        vals.index_add_(0, self._f_inv, self._val * th[self._col])
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self._f_crow, self._f_cols, vals, (self._k, self._D))

    def fields_scipy(self, theta: torch.Tensor) -> sp.csr_matrix:
        """:meth:`fields` as a ``scipy.sparse.csr_matrix`` (for sparse products)."""
        th = _point(theta, self._D)
        vals = torch.zeros(self._f_rows.numel(), dtype=F64)
        vals.index_add_(0, self._f_inv, self._val * th[self._col])
        return sp.csr_matrix((vals.numpy(), self._f_cols.numpy(), self._f_crow.numpy()), shape=(self._k, self._D))

    def gram(self, theta: torch.Tensor) -> torch.Tensor:
        """Generator Gram ``G = F F^T`` (float64): ``(k, k)``, or ``(..., k, k)`` for batched θ."""
        return _batched(theta, self._D, lambda t: _gram(self.fields_scipy(t)), (self._k, self._k))

    def log_volume(self, theta: torch.Tensor) -> torch.Tensor:
        """Local orbit volume ``0.5 log det G(theta)`` (float64; ``-inf`` where singular)."""
        def one(t: torch.Tensor) -> torch.Tensor:
            return 0.5 * logdet_psd(self.gram(t))
        return _batched(theta, self._D, one, ())

    def project_out(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``v - F^T (F F^T)^+ F v``: remove the orbit-tangent part of ``v`` at one ``theta`` ``(D,)``."""
        f = self.fields_scipy(theta)
        v64 = torch.as_tensor(v).to(F64)
        if self._k == 0:
            return v64.clone()
        rhs = torch.from_numpy(f @ v64.numpy())
        coef = torch.linalg.lstsq(_gram(f), rhs[:, None], driver="gelsd").solution[:, 0]
        return v64 - torch.from_numpy(f.T @ coef.numpy())

    # ---- gauge (implicitbias.symmetry.sparse_gauge) --------------------------------------
    def symmetric_part(self) -> SparseSymmetryAlgebra:
        """The symmetric (non-compact, balancing) generators ``S_a = S_a^T`` in the algebra."""
        if self._sym is None:
            from implicitbias.symmetry.sparse_gauge import symmetric_part

            self._sym = symmetric_part(self)
        return self._sym

    def moment_map(self, theta: torch.Tensor) -> torch.Tensor:
        """``chi_a = 0.5 theta^T S_a theta`` for the symmetric part: ``(m,)`` or ``(..., m)``."""
        from implicitbias.symmetry.sparse_gauge import moment_map

        return moment_map(self, theta)

    def balance(self, theta: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """The minimum-norm point of ``theta``'s orbit (moment map 0); same predictor."""
        from implicitbias.symmetry.sparse_gauge import balance

        return balance(self, theta, **kwargs)

    def induced_bias(self, theta: torch.Tensor, temperature: float, balanced: bool = False) -> torch.Tensor:
        """``(T/2) log det C`` at ``balance(theta)`` (moment-map gauge); see :func:`induced_bias`."""
        from implicitbias.symmetry.sparse_gauge import induced_bias

        return induced_bias(self, theta, temperature, balanced=balanced)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no generator matrices)."""
        return {"dim": self.dim, "D": self.D, "nnz": self.nnz, "names": self.names,
                "groups": self.group_counts()}

    def __repr__(self) -> str:
        return f"SparseSymmetryAlgebra(dim={self.dim}, D={self.D}, nnz={self.nnz})"


def _coalesce(k: int, d: int, gen: torch.Tensor, row: torch.Tensor, col: torch.Tensor,
              val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sum duplicate ``(gen, row, col)`` triplets and drop exact zeros (sorted by gen, row, col)."""
    if gen.numel() == 0:
        return gen, row, col, val
    if k * d * d < 2**62:
        key = (gen * d + row) * d + col
        ukey, inv = torch.unique(key, sorted=True, return_inverse=True)
        v = torch.zeros(ukey.numel(), dtype=F64).index_add_(0, inv, val)
        g, rest = ukey // (d * d), ukey % (d * d)
        r, c = rest // d, rest % d
    else:
        u, inv = torch.unique(torch.stack([gen, row, col]), dim=1, return_inverse=True)
        v = torch.zeros(u.shape[1], dtype=F64).index_add_(0, inv, val)
        g, r, c = u
    keep = v != 0
    return g[keep], r[keep], c[keep], v[keep]


def logdet_psd(c: torch.Tensor, rtol: float = 1e-13) -> torch.Tensor:
    """``log det`` of a symmetric PSD ``(k, k)`` matrix: Cholesky when clearly non-singular, else
    :func:`~implicitbias.symmetry.linalg.safe_logdet` (``-inf`` when singular)."""
    if c.shape[-1] == 0:
        return torch.zeros((), dtype=F64)
    with lapack_threads(1):
        chol, info = torch.linalg.cholesky_ex(c)
        if int(info) == 0:
            d = torch.diagonal(chol) ** 2
            if float(d.min()) > 1e3 * rtol * c.shape[-1] * float(d.max()):
                return 2.0 * torch.log(torch.diagonal(chol)).sum()
        return safe_logdet(c)[0]


def _point(theta: torch.Tensor, d: int) -> torch.Tensor:
    th = torch.as_tensor(theta).detach().to(F64).cpu()
    if th.shape != (d,):
        raise UserInputError(f"theta has shape {tuple(th.shape)}, expected ({d},)")
    return th


def _gram(f: sp.csr_matrix) -> torch.Tensor:
    g = (f @ f.T).toarray()
    return torch.from_numpy(np.ascontiguousarray(g))


def _batched(theta: torch.Tensor, d: int, fn: Any, tail: tuple[int, ...]) -> torch.Tensor:
    th = torch.as_tensor(theta).detach().to(F64).cpu()
    if th.shape[-1:] != (d,):
        raise UserInputError(f"theta has shape {tuple(th.shape)}, expected (..., {d})")
    flat = th.reshape(-1, d)
    outs = [fn(t) for t in flat]
    shape = (*th.shape[:-1], *tail)
    return torch.stack(outs).reshape(shape) if outs else torch.zeros(shape, dtype=F64)
