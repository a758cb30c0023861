"""Invertible linear maps ``B`` for :func:`implicitbias.design.sparse_in_basis`.

All return float64 ``(n, n)`` matrices acting on a predictor ``β ∈ R^n`` as ``B β``:

* :func:`dct_matrix` — orthonormal DCT-II, ``B[k, t] = sqrt(2/n) c_k cos(π (t + ½) k / n)``,
  ``c_0 = 1/√2``, ``c_k = 1`` otherwise (``B Bᵀ = I``);
* :func:`haar_matrix` — orthonormal Haar wavelet transform (``n`` a power of 2);
* :func:`finite_difference_matrix` — ``(Bβ)_0 = β_0``, ``(Bβ)_t = β_t − β_{t−1}``; its inverse
  is the cumulative sum (the total-variation design).
"""

from __future__ import annotations

import math

import torch

from implicitbias.errors import UserInputError

__all__ = ["dct_matrix", "haar_matrix", "finite_difference_matrix", "BASES"]


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(n, n)``."""
    t = torch.arange(n, dtype=torch.float64)
    k = t[:, None]
    B = math.sqrt(2.0 / n) * torch.cos(math.pi * (t[None, :] + 0.5) * k / n)
    B[0] /= math.sqrt(2.0)
    return B


def haar_matrix(n: int) -> torch.Tensor:
    """Orthonormal Haar matrix ``(n, n)`` for ``n`` a power of two (rows: scaling + wavelets)."""
    if n < 1 or n & (n - 1):
        raise UserInputError(f"haar basis needs a power-of-two size, got {n}")
    H = torch.ones(1, 1, dtype=torch.float64)
    while H.shape[0] < n:
        m = H.shape[0]
        top = torch.kron(H, torch.tensor([[1.0, 1.0]], dtype=torch.float64))
        bot = torch.kron(torch.eye(m, dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64))
        H = torch.cat([top, bot]) / math.sqrt(2.0)
    return H


def finite_difference_matrix(n: int) -> torch.Tensor:
    """``I − S`` with ``S`` the down-shift: first differences, first entry kept."""
    return torch.eye(n, dtype=torch.float64) - torch.diag(torch.ones(n - 1, dtype=torch.float64), -1)


BASES = {"identity": lambda n: torch.eye(n, dtype=torch.float64), "dct": dct_matrix,
         "haar": haar_matrix, "diff": finite_difference_matrix}
"""Named bases for the CLI (``implicitbias design sparse --basis dct``)."""
