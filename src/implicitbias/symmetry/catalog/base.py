"""The catalogue entry type and helpers to build block generator matrices.

Generator matrices act on the flat parameter vector (row-major flattening of each named
tensor, in the parametrization's order). For a block ``T`` of shape ``(a, b)``:

* left multiplication ``T -> L T`` is ``kron(L, I_b)``;
* right multiplication ``T -> T R`` is ``kron(I_a, R^T)``;
* elementwise scaling ``T -> S * T`` is ``diag(vec S)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from implicitbias.seeding import torch_generator
from implicitbias.symmetry.algebra import SymmetryAlgebra
from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["CatalogEntry", "block_generator", "left_mult", "right_mult", "diag_scale"]

F64 = torch.float64


@dataclass
class CatalogEntry:
    """A parametrization with its analytic symmetry algebra and closed-form bias.

    Attributes:
        name: e.g. ``"hadamard(5, depth=2)"``.
        parametrization: the :class:`Parametrization`.
        algebra: analytic :class:`SymmetryAlgebra` (fixed generator matrices).
        full_dim: dimension of the *complete* linear symmetry algebra (what discovery finds;
            larger than ``algebra.dim`` for a subgroup entry such as attention columns).
        formula: the closed-form bias in words.
        bias_unit: closed form at ``T = 1`` through orbit invariants, ``(..., D) -> (...)``.
        group: the group in words.
    """

    name: str
    parametrization: Parametrization
    algebra: SymmetryAlgebra
    full_dim: int
    formula: str
    bias_unit: Callable[[torch.Tensor], torch.Tensor]
    group: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def is_subgroup(self) -> bool:
        """Whether the analytic algebra is a proper subalgebra of the full symmetry algebra."""
        return self.algebra.dim < self.full_dim

    def bias(self, theta: torch.Tensor, temperature: float) -> torch.Tensor:
        """Closed-form induced bias at ``theta`` (``(D,)`` or ``(..., D)``), up to a constant.

        Written through orbit invariants, so it takes the same value anywhere on the orbit.
        """
        th = torch.as_tensor(theta).to(F64)
        return float(temperature) * self.bias_unit(th)

    def random_point(self, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
        """A generic point ``(D,)``: i.i.d. ``N(0, scale^2)``, seeded by ``(seed, name)``."""
        g = torch_generator(seed, "catalog-point", self.name)
        return scale * torch.randn(self.parametrization.dim, generator=g, dtype=F64)

    def random_points(self, n: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
        """``(n, D)`` generic points."""
        g = torch_generator(seed, "catalog-points", self.name)
        return scale * torch.randn(n, self.parametrization.dim, generator=g, dtype=F64)

    def balanced_point(self, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
        """A random point moved to its orbit's balanced (minimum-norm) representative."""
        return self.algebra.balance(self.random_point(seed, scale))


def block_generator(p: Parametrization, blocks: dict[str, torch.Tensor]) -> torch.Tensor:
    """Assemble a ``(D, D)`` block-diagonal generator from per-tensor ``(n_k, n_k)`` blocks."""
    g = torch.zeros(p.dim, p.dim, dtype=F64)
    sl = p.slices
    for name, m in blocks.items():
        s = sl[name]
        g[s, s] = m.to(F64)
    return g


def left_mult(shape: tuple[int, ...], mat: torch.Tensor) -> torch.Tensor:
    """Matrix of ``T -> mat @ T`` on a row-major flattened ``T`` of ``shape``."""
    b = shape[1] if len(shape) == 2 else 1
    return torch.kron(mat.to(F64).contiguous(), torch.eye(b, dtype=F64))


def right_mult(shape: tuple[int, ...], mat: torch.Tensor) -> torch.Tensor:
    """Matrix of ``T -> T @ mat`` on a row-major flattened ``T`` of shape ``(a, b)``."""
    return torch.kron(torch.eye(shape[0], dtype=F64), mat.to(F64).T.contiguous())


def diag_scale(scale: torch.Tensor) -> torch.Tensor:
    """Matrix of ``T -> scale * T`` (elementwise), for ``scale`` of ``T``'s shape."""
    return torch.diag(scale.reshape(-1).to(F64))


def unit(n: int, i: int, j: int) -> torch.Tensor:
    """``E_ij`` in ``gl(n)``."""
    e = torch.zeros(n, n, dtype=F64)
    e[i, j] = 1.0
    return e
