"""Ensemble stability across seeds (after unit matching) and across halves of the test set.

Units of two independently trained networks are not aligned: unit 17 of seed 0 has no
reason to be unit 17 of seed 1. We match them by the Hungarian algorithm
(:func:`scipy.optimize.linear_sum_assignment`) on their class-mean profiles: unit j of run
A is described by the K-vector m_A[:, j] normalised to unit length (its class *tuning*),
and the cost of pairing (i, j) is 1 − cos(m_A[:, i], m_B[:, j]). Dead units (zero profile)
get a uniform tuning so that they can be matched without preference.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels
from implicitbias.analysis.ensembles import class_means, ensembles_loo, jaccard_matrix
from implicitbias.seeding import numpy_generator

__all__ = ["match_units", "ensemble_stability_seeds", "split_half_stability"]


def _tuning(m: np.ndarray) -> np.ndarray:
    m = np.nan_to_num(m, nan=0.0)
    norm = np.linalg.norm(m, axis=0, keepdims=True)
    k = m.shape[0]
    out = np.where(norm > 0, m / np.where(norm > 0, norm, 1.0), 1.0 / np.sqrt(k))
    return out


def match_units(m_a: ArrayLike, m_b: ArrayLike) -> np.ndarray:
    """Hungarian matching of the units of run B to those of run A.

    Args:
        m_a: class-mean profiles of run A ``(K, H)``.
        m_b: class-mean profiles of run B ``(K, H)`` (same K and H).

    Returns:
        ``perm`` ``(H,)``: unit j of A is matched with unit ``perm[j]`` of B, minimising
        Σ_j (1 − cos(m_a[:, j], m_b[:, perm[j]])).
    """
    a = _tuning(as_2d(m_a, "m_a"))
    b = _tuning(as_2d(m_b, "m_b"))
    if a.shape != b.shape:
        raise ValueError(f"profiles differ in shape: {a.shape} vs {b.shape}")
    cost = 1.0 - a.T @ b
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(a.shape[1], dtype=np.int64)
    perm[rows] = cols
    return perm


def ensemble_stability_seeds(
    m_a: ArrayLike, m_b: ArrayLike, k: float = 1.0
) -> dict[str, object]:
    """Per-class Jaccard between LOO ensembles of two runs after Hungarian unit matching.

    Returns:
        dict with ``jaccard`` (list of K floats; NaN if both ensembles are empty),
        ``mean_jaccard`` (NaN-ignoring mean), ``perm`` (the matching, as a list).
    """
    ma = as_2d(m_a, "m_a")
    mb = as_2d(m_b, "m_b")
    perm = match_units(ma, mb)
    ea = ensembles_loo(ma, k)
    eb = ensembles_loo(mb, k)[:, perm]
    jac = np.diag(jaccard_matrix(ea, eb))
    ok = ~np.isnan(jac)
    return {
        "jaccard": [float(v) for v in jac],
        "mean_jaccard": float(jac[ok].mean()) if ok.any() else float("nan"),
        "perm": perm.tolist(),
    }


def split_half_stability(
    x: ArrayLike,
    labels: ArrayLike,
    k: float = 1.0,
    seed: int = 0,
    num_classes: int | None = None,
) -> dict[str, object]:
    """Jaccard between LOO ensembles found on two random halves of the samples of each class.

    The split is stratified by class and drawn from ``numpy_generator(seed, "split_half")``.

    Returns:
        dict with ``jaccard`` (K floats) and ``mean_jaccard``.
    """
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    kk = int(num_classes if num_classes is not None else y.max() + 1)
    rng = numpy_generator(seed, "split_half")
    half = np.zeros(a.shape[0], dtype=bool)
    for c in range(kk):
        idx = np.nonzero(y == c)[0]
        pick = rng.permutation(idx)[: idx.size // 2]
        half[pick] = True
    e1 = ensembles_loo(class_means(a[half], y[half], kk), k)
    e2 = ensembles_loo(class_means(a[~half], y[~half], kk), k)
    jac = np.diag(jaccard_matrix(e1, e2))
    ok = ~np.isnan(jac)
    return {
        "jaccard": [float(v) for v in jac],
        "mean_jaccard": float(jac[ok].mean()) if ok.any() else float("nan"),
    }
