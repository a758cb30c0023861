"""Sparsity of activation arrays: Hoyer, active fraction, dead units, Gini.

All functions take activations ``x`` of shape ``(N, H)`` (N samples, H units; post-ReLU, so
non-negative, although nothing here requires it except where stated) as a NumPy array or a
torch tensor.

Hoyer (2004) sparseness of a vector v ∈ Rⁿ (n ≥ 2):

    H(v) = (√n − ‖v‖₁ / ‖v‖₂) / (√n − 1),

1 for a one-hot vector, 0 for a constant vector, undefined (0/0) for v = 0. Computed per
sample (rows: *population* sparseness, the paper's statistic) or per unit (columns:
*lifetime* sparseness). All-zero vectors give NaN and are **counted**, never silently
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels, to_numpy

__all__ = [
    "hoyer",
    "hoyer_per_sample",
    "hoyer_per_unit",
    "HoyerSummary",
    "hoyer_summary",
    "hoyer_per_class",
    "active_fraction",
    "dead_unit_fraction",
    "gini",
]


def hoyer(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """Hoyer sparseness along ``axis``; NaN where the vector is all zero.

    Args:
        x: array of any shape with ``x.shape[axis] = n ≥ 2``.
        axis: the axis holding the vector entries.

    Returns:
        Array with ``axis`` removed.
    """
    a = to_numpy(x)
    a = np.abs(a if a.dtype in (np.float32, np.float64) else a.astype(np.float64))
    n = a.shape[axis]
    if n < 2:
        raise ValueError("Hoyer sparseness needs at least 2 entries")
    l1 = a.sum(axis=axis)
    l2 = np.sqrt((a * a).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = l1 / l2
    sq = np.sqrt(n)
    return np.where(l2 == 0, np.nan, (sq - ratio) / (sq - 1.0))


def hoyer_per_sample(x: ArrayLike) -> np.ndarray:
    """Population sparseness: Hoyer of each row of ``x`` ``(N, H)`` → ``(N,)``."""
    return hoyer(as_2d(x), axis=1)


def hoyer_per_unit(x: ArrayLike) -> np.ndarray:
    """Lifetime sparseness: Hoyer of each column of ``x`` ``(N, H)`` → ``(H,)`` (NaN if dead)."""
    return hoyer(as_2d(x), axis=0)


@dataclass(frozen=True)
class HoyerSummary:
    """Mean population Hoyer over the non-zero rows, with the zero rows counted.

    Attributes:
        mean: NaN-ignoring mean of per-sample Hoyer (the paper's number).
        sd: sample sd over the same rows.
        n: number of rows.
        n_zero: number of all-zero rows (Hoyer undefined; excluded from mean/sd).
    """

    mean: float
    sd: float
    n: int
    n_zero: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "sd": self.sd, "n": self.n, "n_zero": self.n_zero}


def _summarise(h: np.ndarray) -> HoyerSummary:
    ok = ~np.isnan(h)
    m = int(ok.sum())
    mean = float(h[ok].mean()) if m else float("nan")
    sd = float(h[ok].std(ddof=1)) if m > 1 else float("nan")
    return HoyerSummary(mean=mean, sd=sd, n=int(h.size), n_zero=int(h.size - m))


def hoyer_summary(x: ArrayLike) -> HoyerSummary:
    """Per-layer population Hoyer of ``x`` ``(N, H)``: mean over non-zero rows + zero count."""
    return _summarise(hoyer_per_sample(x))


def hoyer_per_class(x: ArrayLike, labels: ArrayLike, num_classes: int | None = None) -> list[HoyerSummary]:
    """Population Hoyer summarised separately over the rows of each class.

    Args:
        x: activations ``(N, H)``.
        labels: ``(N,)`` integer classes in ``[0, K)``.
        num_classes: K (default ``labels.max() + 1``). Absent classes give NaN, n = 0.
    """
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    k = int(num_classes if num_classes is not None else (y.max() + 1 if y.size else 0))
    h = hoyer_per_sample(a)
    return [_summarise(h[y == c]) for c in range(k)]


def active_fraction(x: ArrayLike, tau: float = 0.0) -> np.ndarray:
    """Fraction of units with activation strictly above ``tau`` in each sample.

    Args:
        x: ``(N, H)``.
        tau: threshold; 0 counts units that are on at all (``> 0``).

    Returns:
        ``(N,)`` fractions in [0, 1].
    """
    a = as_2d(x)
    return (a > tau).mean(axis=1)


def dead_unit_fraction(x: ArrayLike, tau: float = 0.0) -> float:
    """Fraction of units that never exceed ``tau`` on any sample of ``x`` ``(N, H)``."""
    a = as_2d(x)
    return float((~(a > tau).any(axis=0)).mean())


def gini(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """Gini coefficient of non-negative vectors along ``axis`` (Hurley & Rickard 2009).

    G(v) = Σ_i Σ_j |v_i − v_j| / (2 n Σ_i v_i): 0 for a constant vector, 1 − 1/n for a
    one-hot vector; NaN for v = 0. Computed in O(n log n) from the sorted entries
    v_(1) ≤ … ≤ v_(n):  G = Σ_k (2k − n − 1) v_(k) / (n Σ v).
    """
    a = to_numpy(x)
    a = a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)
    if np.any(a < 0):
        raise ValueError("gini expects non-negative entries")
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    s = np.sort(a, axis=-1)
    k = np.arange(1, n + 1, dtype=s.dtype)
    tot = s.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (s * (2 * k - n - 1)).sum(axis=-1) / (n * tot)
    g = np.where(tot == 0, np.nan, g)
    return g
