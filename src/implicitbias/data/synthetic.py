"""Synthetic teachers and signals for the implicit-bias paper's experiments (v2 Figs. 2-6).

Every function takes an explicit ``torch.Generator`` (never global RNG state) and returns
float32 tensors unless ``dtype`` says otherwise. Shapes follow the paper's code:

* ReLU teacher: ``W (h, d_in)``, ``V (d_out, h)``, ``f(x) = V relu(W x)``.
* attention teacher: ``W_Q, W_K, W_V (d_emb, d_head)``.
* low-rank matrix: ``M = U diag(σ) Vᵀ`` with orthonormal ``U (m, r)``, ``V (n, r)``.
* cosine features ``x_k(t) = cos(2π k t)``, ``k = 0..n-1``, and sparse spike vectors.
* piecewise-constant signals and Gaussian measurement matrices ``A_ij ~ N(0, 1/m)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "relu_teacher",
    "attention_teacher",
    "low_rank_matrix",
    "cosine_features",
    "sparse_spikes",
    "piecewise_constant",
    "gaussian_measurements",
    "total_variation",
    "PAPER_TV_LEVELS",
    "PAPER_TV_LENGTHS",
]

#: The paper's piecewise-constant signal (Fig. 6): levels and segment lengths (TV = 6.0).
PAPER_TV_LEVELS: tuple[float, ...] = (1.0, -1.5, 0.5, 2.0)
PAPER_TV_LENGTHS: tuple[int, ...] = (50, 70, 40, 40)


def relu_teacher(
    gen: torch.Generator, d_in: int = 3, hidden: int = 16, d_out: int = 1, std: float = 1.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bias-free two-layer ReLU teacher, weights i.i.d. ``N(0, std²)``.

    Returns:
        ``(W, V)`` with ``W (hidden, d_in)`` and ``V (d_out, hidden)``.
    """
    W = torch.randn(hidden, d_in, generator=gen) * std
    V = torch.randn(d_out, hidden, generator=gen) * std
    return W, V


def attention_teacher(
    gen: torch.Generator, d_emb: int = 16, d_head: int = 8, std: float = 0.75
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Single-head attention teacher, weights ``N(0, std²)``; ``W_Q`` scaled by ``4 + 4|z|``.

    Returns:
        ``(W_Q, W_K, W_V)``, each ``(d_emb, d_head)``.
    """
    Wq = torch.randn(d_emb, d_head, generator=gen) * std
    Wk = torch.randn(d_emb, d_head, generator=gen) * std
    Wv = torch.randn(d_emb, d_head, generator=gen) * std
    z = torch.randn((), generator=gen)
    return Wq * (4.0 + 4.0 * z.abs()), Wk, Wv


def low_rank_matrix(
    gen: torch.Generator, m: int, n: int, singular_values: Sequence[float]
) -> torch.Tensor:
    """``M = U diag(σ) Vᵀ`` with ``U, V`` the Q factors of Gaussian ``(m, r)``, ``(n, r)``.

    The singular values of the result are exactly ``singular_values`` (up to rounding).
    """
    r = len(singular_values)
    U, _ = torch.linalg.qr(torch.randn(m, r, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, r, generator=gen, dtype=torch.float64))
    s = torch.tensor(list(singular_values), dtype=torch.float64)
    return ((U * s) @ V.T).float()


def cosine_features(t: torch.Tensor, n_freq: int) -> torch.Tensor:
    """``X[i, k] = cos(2π k t_i)`` for ``k = 0..n_freq-1``; ``t (N,)`` -> ``X (N, n_freq)``."""
    k = torch.arange(n_freq, dtype=t.dtype, device=t.device)
    return torch.cos(2.0 * torch.pi * t[:, None] * k[None, :])


def sparse_spikes(
    gen: torch.Generator, n: int, k: int, lo: float = 1.0, hi: float = 2.0, first: int = 1
) -> torch.Tensor:
    """A vector of length ``n`` with ``k`` non-zeros at distinct random indices in
    ``[first, n)``, magnitudes ``U[lo, hi]`` and random signs."""
    idx = first + torch.randperm(n - first, generator=gen)[:k]
    mag = lo + (hi - lo) * torch.rand(k, generator=gen)
    sign = torch.where(torch.rand(k, generator=gen) < 0.5, -1.0, 1.0)
    w = torch.zeros(n)
    w[idx] = mag * sign
    return w


def piecewise_constant(
    levels: Sequence[float] = PAPER_TV_LEVELS, lengths: Sequence[int] = PAPER_TV_LENGTHS
) -> torch.Tensor:
    """Concatenate ``lengths[i]`` copies of ``levels[i]``; the paper's default has length 200."""
    if len(levels) != len(lengths):
        raise ValueError("levels and lengths must have the same length")
    return torch.cat([torch.full((int(n),), float(v)) for v, n in zip(levels, lengths, strict=True)])


def gaussian_measurements(gen: torch.Generator, m: int, n: int) -> torch.Tensor:
    """Measurement matrix ``A (m, n)`` with i.i.d. ``N(0, 1/m)`` entries."""
    return torch.randn(m, n, generator=gen) / m**0.5


def total_variation(w: torch.Tensor) -> torch.Tensor:
    """``TV(w) = Σ_t |w_{t+1} − w_t|`` over the last dimension."""
    return (w[..., 1:] - w[..., :-1]).abs().sum(-1)
