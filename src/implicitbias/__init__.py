"""implicitbias: how training selects a solution among the many that fit.

Two halves share one library:

* symmetry-induced implicit bias of SGD (``implicitbias.symmetry``, ``.dynamics``, ``.design``);
* Forward-Forward representations (``implicitbias.ff``, ``.analysis``).

The symmetry core is re-exported here (imported lazily, so ``import implicitbias`` stays
light): ``Parametrization``, ``SymmetryAlgebra``, ``discover_symmetries``, ``induced_bias``
and the ``catalog`` module; the subpackages (``ib.symmetry``, ``ib.dynamics``, ``ib.design``,
``ib.ff``, ``ib.analysis``, ``ib.data``, ``ib.viz``, ``ib.experiments``, ``ib.runs``) are
imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Parametrization": ("implicitbias.symmetry.parametrization", "Parametrization"),
    "SymmetryAlgebra": ("implicitbias.symmetry.algebra", "SymmetryAlgebra"),
    "SparseSymmetryAlgebra": ("implicitbias.symmetry.sparse_algebra", "SparseSymmetryAlgebra"),
    "discover_symmetries": ("implicitbias.symmetry.scalable", "discover_symmetries"),
    "induced_bias": ("implicitbias.symmetry.scalable", "induced_bias"),
    "SymmetryMonitor": ("implicitbias.symmetry.monitor", "SymmetryMonitor"),
    "catalog": ("implicitbias.symmetry.catalog", None),
}
#: Subpackages reachable as attributes (``ib.dynamics``), imported on first access.
SUBPACKAGES = ("symmetry", "dynamics", "design", "ff", "analysis", "data", "viz", "experiments", "runs")
_LAZY.update({name: (f"implicitbias.{name}", None) for name in SUBPACKAGES})

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'implicitbias' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
