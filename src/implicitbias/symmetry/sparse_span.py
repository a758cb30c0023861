"""Is a candidate generator already in the span of the slot generators? (coefficient space)

The ansatz of :class:`~implicitbias.symmetry.families.Families` is redundant in a known way:
on one tensor, the identity is the scalar element, the sum of the diagonal axis-0 elements
(row scalings, or ``E_xx`` of every GL block) and the sum of the diagonal axis-1 elements;
elements of different tensors act on different coordinates, and the axis-0 and axis-1
families of one tensor meet only in multiples of the identity. So the kernel of
``c -> sum_e c_e B_e`` is spanned by ``scalar_T - id0_T`` and ``id0_T - id1_T``.

A candidate ``v`` (e.g. "scale ``fc1`` and its bias up, ``fc2`` down", found in the slot of
per-tensor scalars) is a combination of the slot generators as an *operator* iff
``v - kappa`` lies in their span for some kernel vector ``kappa``. The slot generators are
supported on one slot each, so with ``r`` = the residual after projecting every slot on its
generators this is the small least-squares problem ``min_kappa |r(v) - r(K) kappa|`` with
``2 x (number of tensors)`` unknowns: no fields, no ``(k, k)`` Gram.
"""

from __future__ import annotations

import torch

from implicitbias.symmetry.families import Families

__all__ = ["SlotSpan"]

F64 = torch.float64


class SlotSpan:
    """The span of slot-local generators modulo the ansatz kernel.

    Args:
        fam: the ansatz.
        blocks: ``[(cols, coeffs)]``: per slot, its ansatz columns and generator coefficient
            rows ``(m, |cols|)``.
    """

    def __init__(self, fam: Families, blocks: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.fam = fam
        self.basis: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        for cols, coeffs in blocks:
            self.add(cols, coeffs)
        self.kernel = self._kernel()

    def add(self, cols: torch.Tensor, coeffs: torch.Tensor) -> None:
        """Add generators ``coeffs`` ``(m, |cols|)`` supported on ``cols`` (one slot)."""
        key = tuple(cols.tolist())
        if key in self.basis:
            old = self.basis[key][1]
            coeffs = torch.cat([old, coeffs.to(F64) @ torch.eye(len(cols), dtype=F64)])
        q = torch.linalg.qr(coeffs.to(F64).T).Q.T  # orthonormal rows
        self.basis[key] = (cols, q)

    def _kernel(self) -> torch.Tensor:
        fam = self.fam
        ids: dict[tuple[str, int], torch.Tensor] = {}
        for f in fam.families:
            key = (f.tensor, f.axis)
            v = ids.setdefault(key, torch.zeros(fam.size, dtype=F64))
            if f.kind in ("scale", "scalar"):
                v[f.start: f.start + f.n] = 1.0
            else:
                v[f.start + torch.arange(f.size) * (f.size + 1)] = 1.0
        vecs = []
        for t in fam.views:
            if (t, -1) in ids and (t, 0) in ids:
                vecs.append(ids[(t, -1)] - ids[(t, 0)])
            if (t, 0) in ids and (t, 1) in ids:
                vecs.append(ids[(t, 0)] - ids[(t, 1)])
        return torch.stack(vecs, 1) if vecs else torch.zeros(fam.size, 0, dtype=F64)

    def residual(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` ``(size, q)`` minus its projection on the generators, slot by slot."""
        r = v.to(F64).clone()
        for cols, q in self.basis.values():
            r[cols] -= q.T @ (q @ r[cols])
        return r

    def contains(self, cols: torch.Tensor, vals: torch.Tensor, rtol: float = 1e-8) -> bool:
        """Whether the operator ``sum_j vals[j] B_{cols[j]}`` is in the span (modulo the kernel)."""
        v = torch.zeros(self.fam.size, 1, dtype=F64)
        v[cols, 0] = vals.to(F64)
        rv = self.residual(v)
        if self.kernel.shape[1]:
            rk = self.residual(self.kernel)
            kappa = torch.linalg.lstsq(rk, rv, driver="gelsd").solution
            rv = rv - rk @ kappa
        return float(rv.norm()) <= rtol * float(v.norm())
