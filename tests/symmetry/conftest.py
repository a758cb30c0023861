"""Shared fixtures: catalogue entries at the issue's sizes and their discovered algebras (cached)."""

from __future__ import annotations

import pytest

from implicitbias.symmetry import catalog, discover_symmetries

PAPER_ENTRIES = {
    "hadamard(5,2)": lambda: catalog.hadamard(5, 2),
    "hadamard(4,3)": lambda: catalog.hadamard(4, 3),
    "factorization(4,3,2)": lambda: catalog.factorization(4, 3, 2),
    "relu_net(3,16,1)": lambda: catalog.relu_net(3, 16, 1),
    "attention(16,8)": lambda: catalog.attention(16, 8),
    "attention(16,8,columns)": lambda: catalog.attention(16, 8, subgroup="columns"),
    "cumsum_hadamard(8)": lambda: catalog.cumsum_hadamard(8),
}


class _Cache:
    def __init__(self) -> None:
        self.entries: dict[str, catalog.CatalogEntry] = {}
        self.algebras: dict[str, object] = {}

    def entry(self, key: str) -> catalog.CatalogEntry:
        if key not in self.entries:
            self.entries[key] = PAPER_ENTRIES[key]()
        return self.entries[key]

    def discovered(self, key: str):
        key = {"attention(16,8,columns)": "attention(16,8)"}.get(key, key)  # same predictor
        if key not in self.algebras:
            self.algebras[key] = discover_symmetries(self.entry(key).parametrization, seed=0)
        return self.algebras[key]


@pytest.fixture(scope="session")
def cache() -> _Cache:
    return _Cache()
