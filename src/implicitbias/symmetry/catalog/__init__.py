"""Catalogue of parametrizations with analytic symmetry algebras and closed-form biases.

>>> from implicitbias.symmetry import catalog
>>> e = catalog.hadamard(5, depth=2)
>>> e.algebra.dim
5

Every entry is a :class:`CatalogEntry` with ``.parametrization``, ``.algebra`` (analytic
generators), ``.full_dim``, ``.bias(theta, temperature)`` (closed form through orbit
invariants, up to an additive constant), ``.random_point(seed)`` and
``.balanced_point(seed)``.
"""

from implicitbias.symmetry.catalog.base import CatalogEntry
from implicitbias.symmetry.catalog.linear import (
    cumsum_hadamard,
    factorization,
    hadamard,
    spectral_bias_unit,
)
from implicitbias.symmetry.catalog.nets import attention, relu_net

__all__ = [
    "CatalogEntry",
    "hadamard",
    "factorization",
    "relu_net",
    "attention",
    "cumsum_hadamard",
    "spectral_bias_unit",
    "default_entries",
]


def default_entries(preset: str = "paper") -> list[CatalogEntry]:
    """The catalogue table's rows: ``"paper"`` sizes (issue 2) or ``"quick"`` (small)."""
    if preset == "quick":
        return [
            hadamard(5, 2), hadamard(3, 3), factorization(4, 3, 2), relu_net(3, 6, 1),
            attention(6, 3), attention(6, 3, subgroup="columns"), cumsum_hadamard(6),
        ]
    if preset != "paper":
        raise ValueError(f"unknown catalogue preset {preset!r} (quick, paper)")
    return [
        hadamard(5, 2), hadamard(4, 3), factorization(4, 3, 2), relu_net(3, 16, 1),
        attention(16, 8), attention(16, 8, subgroup="columns"), cumsum_hadamard(8),
    ]
