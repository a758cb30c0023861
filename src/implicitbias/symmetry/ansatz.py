"""Ansätze for linear symmetry generators: dense (all ``D x D``) and structured.

An ansatz is a finite family of fixed matrices ``B_i`` (``i < p``); discovery searches for
coefficients ``c`` with ``J(theta) (sum_i c_i B_i) theta = 0`` at random points. Each ansatz
provides the fields ``B_i theta`` (shape ``(p, D)``) at a point and materialises
``A = sum_i c_i B_i`` as dense ``(D, D)`` matrices.

Structured families (per named tensor ``T`` of shape ``(a, b)``, vectors as ``(d, 1)``):

* left multiplication ``T -> E_kl T`` (``a^2``), right multiplication ``T -> T E_kl`` (``b^2``,
  matrices only), elementwise scaling ``T -> E_ij * T`` (``ab``, matrices only; for vectors
  it is contained in left multiplication);
* mixing between distinct same-shape tensors ``T_i -> S * T_j``: elementwise ``S`` for
  vectors (``d``), a scalar for matrices (``1``).

Tensors with more than two axes are viewed as ``(shape[0], prod(shape[1:]))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["Ansatz", "DenseAnsatz", "StructuredAnsatz", "make_ansatz"]

F64 = torch.float64


class Ansatz:
    """Base class: a family of ``p`` fixed ``(D, D)`` matrices."""

    size: int
    dim: int

    def fields(self, theta: torch.Tensor) -> torch.Tensor:
        """``(p, D)``: row ``i`` is ``B_i theta``."""
        raise NotImplementedError

    def materialize(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(k, D, D)`` matrices ``sum_i coeffs[i, a] B_i`` for ``coeffs`` of shape ``(p, k)``."""
        raise NotImplementedError


class DenseAnsatz(Ansatz):
    """All ``D x D`` matrices, basis ``E_ij`` (index ``i * D + j``). Exact and complete."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.size = dim * dim

    def fields(self, theta: torch.Tensor) -> torch.Tensor:
        d = self.dim
        # E_ij theta = theta_j e_i  ->  out[(i, j), m] = delta_im theta_j
        return torch.einsum("im,j->ijm", torch.eye(d, dtype=F64), theta.to(F64)).reshape(d * d, d)

    def materialize(self, coeffs: torch.Tensor) -> torch.Tensor:
        return coeffs.T.reshape(-1, self.dim, self.dim).to(F64).clone()


@dataclass
class _Family:
    kind: str  # "left", "right", "elem", "mix_elem", "mix_scalar"
    target: str  # tensor that is changed
    source: str  # tensor that is read (== target except for mixing)
    rows: int
    cols: int
    start: int  # offset in the coefficient vector
    size: int


class StructuredAnsatz(Ansatz):
    """Per-tensor left/right multiplications, elementwise scalings and same-shape mixing."""

    def __init__(self, p: Parametrization) -> None:
        self.dim = p.dim
        self._slices = p.slices
        self._mat: dict[str, tuple[int, int]] = {}
        self.families: list[_Family] = []
        off = 0
        shapes = p.shapes
        for name, shp in shapes.items():
            a = shp[0]
            b = math.prod(shp[1:]) if len(shp) > 1 else 1
            self._mat[name] = (a, b)
            kinds = [("left", a * a)]
            if b > 1:
                kinds += [("right", b * b), ("elem", a * b)]
            for kind, n in kinds:
                self.families.append(_Family(kind, name, name, a, b, off, n))
                off += n
        for t in shapes:
            for s in shapes:
                if s != t and shapes[s] == shapes[t]:
                    a, b = self._mat[t]
                    kind, n = ("mix_elem", a) if b == 1 else ("mix_scalar", 1)
                    self.families.append(_Family(kind, t, s, a, b, off, n))
                    off += n
        self.size = off

    def fields(self, theta: torch.Tensor) -> torch.Tensor:
        theta = theta.to(F64)
        out = torch.zeros(self.size, self.dim, dtype=F64)
        for f in self.families:
            src = theta[self._slices[f.source]].reshape(f.rows, f.cols)
            tgt = self._slices[f.target]
            a, b = f.rows, f.cols
            blk = out[f.start : f.start + f.size, tgt]
            if f.kind == "left":  # (E_kl T)[k, :] = T[l, :]
                v = torch.einsum("km,lc->klmc", torch.eye(a, dtype=F64), src)
            elif f.kind == "right":  # (T E_kl)[:, l] = T[:, k]
                v = torch.einsum("rk,lc->klrc", src, torch.eye(b, dtype=F64))
            elif f.kind in ("elem", "mix_elem"):  # (E_ij * T)[i, j] = T[i, j]
                v = torch.diag(src.reshape(-1))
            else:  # mix_scalar
                v = src.reshape(1, -1)
            blk.copy_(v.reshape(f.size, a * b))
        return out

    def materialize(self, coeffs: torch.Tensor) -> torch.Tensor:
        coeffs = coeffs.to(F64)
        k = coeffs.shape[1]
        out = torch.zeros(k, self.dim, self.dim, dtype=F64)
        for f in self.families:
            c = coeffs[f.start : f.start + f.size].T  # (k, size)
            tgt, src = self._slices[f.target], self._slices[f.source]
            a, b = f.rows, f.cols
            if f.kind == "left":
                m = torch.einsum("zkl,ij->zkilj", c.reshape(k, a, a), torch.eye(b, dtype=F64))
            elif f.kind == "right":  # T -> T R : kron(I_a, R^T)
                m = torch.einsum("ij,zkl->ziljk", torch.eye(a, dtype=F64), c.reshape(k, b, b))
            elif f.kind in ("elem", "mix_elem"):
                m = torch.diag_embed(c)
            else:
                m = c.reshape(k, 1, 1) * torch.eye(a * b, dtype=F64)
            out[:, tgt, src] += m.reshape(k, a * b, a * b)
        return out


def make_ansatz(p: Parametrization, mode: str) -> Ansatz:
    """``"dense"`` or ``"structured"`` ansatz for ``p``."""
    if mode == "dense":
        return DenseAnsatz(p.dim)
    if mode == "structured":
        return StructuredAnsatz(p)
    raise ValueError(f"unknown ansatz mode {mode!r}")
