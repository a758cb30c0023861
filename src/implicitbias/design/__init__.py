"""Inverse design of implicit biases (reference §7).

Given a target bias on the predictor, return a redundant parametrization that induces it::

    >>> import torch
    >>> from implicitbias import design
    >>> d = design.sparse_in_basis(design.dct_matrix(8))
    >>> layer = torch.nn.Linear(8, 1, bias=False)
    >>> _ = torch.nn.utils.parametrize.register_parametrization(layer, "weight", d.module)
    >>> d.verify().ok
    True

Constructors: :func:`sparse_in_basis`, :func:`total_variation`, :func:`group_sparse`,
:func:`low_rank`; each returns a :class:`Design` (``.module``, ``.algebra``, ``.bias``,
``.verify()``, ``.describe()``). Registering stores the balanced factors of the current
weight (same function); to train from scratch call :func:`init_factors_` (independent small
factors — from an exactly balanced start a Hadamard coordinate cannot change sign).
"""

from implicitbias.design.base import Design, VerifyReport, init_factors_
from implicitbias.design.bases import BASES, dct_matrix, finite_difference_matrix, haar_matrix
from implicitbias.design.constructors import (
    group_sparse,
    low_rank,
    sparse_in_basis,
    total_variation,
)

__all__ = [
    "Design", "VerifyReport", "init_factors_", "sparse_in_basis", "total_variation", "group_sparse", "low_rank",
    "dct_matrix", "haar_matrix", "finite_difference_matrix", "BASES",
]
