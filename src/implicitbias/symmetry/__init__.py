"""Symmetry geometry: parametrizations, symmetry algebras, gauge, induced bias, catalogue.

Pipeline: :class:`Parametrization` (flat theta -> predictor; ``Parametrization.from_module`` /
``from_loss`` for torch modules) -> :func:`discover_symmetries`
(the complete algebra of linear symmetries, fixed generator matrices) -> :class:`SymmetryAlgebra`
(fields, Gram, orbit volume, symmetric part, moment map, balance, projection; or, at scale,
:class:`SparseSymmetryAlgebra` with sparse generators) ->
:func:`induced_bias` ((T/2) log det of the moment-map constraint Gram at the balanced point).
:mod:`implicitbias.symmetry.catalog` holds analytic entries with closed forms.
"""

from implicitbias.symmetry import catalog
from implicitbias.symmetry.algebra import SymmetryAlgebra
from implicitbias.symmetry.gauge import SingularOrbitWarning, constraint_gram
from implicitbias.symmetry.monitor import SymmetryMonitor
from implicitbias.symmetry.parametrization import Parametrization
from implicitbias.symmetry.scalable import balance, discover_symmetries, induced_bias, moment_map
from implicitbias.symmetry.sparse_algebra import SparseSymmetryAlgebra

__all__ = [
    "Parametrization",
    "SymmetryAlgebra",
    "SparseSymmetryAlgebra",
    "SymmetryMonitor",
    "discover_symmetries",
    "induced_bias",
    "balance",
    "moment_map",
    "constraint_gram",
    "SingularOrbitWarning",
    "catalog",
]
