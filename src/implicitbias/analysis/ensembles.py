"""Class selectivity and category-specific ensembles.

Notation: activations ``x`` ``(N, H)``, labels ``y`` ``(N,)`` in ``[0, K)``. ``m[c, j]`` is
the mean activation of unit j over the samples of class c (the *class-mean profile*,
``(K, H)``). An *ensemble* E_c ⊆ {0..H−1} is the set of units assigned to class c; the
functions return boolean membership masks ``(K, H)``.

Rules:

* leave-one-out (Tosato et al.'s code, reference §4.3a):
  j ∈ E_c  ⇔  m[c, j] > (1 + k) · mean_{i≠j} m[c, i]
  (k = 1 for the overlap figure, k = 2 for the profile figure);
* quantile (§4.3c): j ∈ E_c ⇔ median over class-c samples of x[:, j] exceeds the q-quantile
  (q = 0.9) of *all* class-c activations of the layer;
* one-vs-rest test (proposal): one-sided Mann–Whitney U of unit j's class-c activations
  against its other-class activations, Benjamini–Hochberg FDR control over all K·H tests,
  plus a minimum effect size on the selectivity score.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels

__all__ = [
    "class_means",
    "selectivity_index",
    "one_vs_rest_selectivity",
    "ensembles_loo",
    "ensembles_quantile",
    "ensembles_test",
    "benjamini_hochberg",
    "ensemble_sizes",
    "overlap_counts",
    "jaccard_matrix",
    "mixed_selectivity",
    "specificity_stats",
]


def _num_classes(y: np.ndarray, num_classes: int | None) -> int:
    return int(num_classes if num_classes is not None else (y.max() + 1 if y.size else 0))


def class_means(x: ArrayLike, labels: ArrayLike, num_classes: int | None = None) -> np.ndarray:
    """Class-mean profiles ``m`` ``(K, H)``; NaN rows for classes without samples."""
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    k = _num_classes(y, num_classes)
    out = np.full((k, a.shape[1]), np.nan)
    for c in range(k):  # boolean-mask sums: faster than a one-hot matmul for K ≪ N
        rows = a[y == c]
        if rows.shape[0]:
            out[c] = rows.mean(axis=0, dtype=np.float64)
    return out


def selectivity_index(m: ArrayLike) -> np.ndarray:
    """Class-selectivity index per unit (Morcos et al. 2018) from class means ``(K, H)``.

    SI_j = (μ_max − μ_rest) / (μ_max + μ_rest), μ_max the largest class mean of unit j and
    μ_rest the mean of its other K − 1 class means. 0 for a unit equally active for every
    class, 1 for a unit active for one class only; NaN for a dead unit. Shape ``(H,)``.
    """
    mm = as_2d(m, "m")
    k = mm.shape[0]
    mx = mm.max(axis=0)
    rest = (mm.sum(axis=0) - mx) / (k - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (mx - rest) / (mx + rest)


def one_vs_rest_selectivity(m: ArrayLike) -> np.ndarray:
    """Per-class score (μ_c − μ_rest)/(μ_c + μ_rest) ``(K, H)``, μ_rest over the other classes."""
    mm = as_2d(m, "m")
    k = mm.shape[0]
    rest = (mm.sum(axis=0, keepdims=True) - mm) / (k - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (mm - rest) / (mm + rest)


def ensembles_loo(m: ArrayLike, k: float = 1.0) -> np.ndarray:
    """Leave-one-out mean rule on class means ``m`` ``(K, H)`` → membership ``(K, H)`` bool.

    j ∈ E_c ⇔ m[c, j] > (1 + k) · (Σ_i m[c, i] − m[c, j]) / (H − 1). Equivalent to the
    paper's (m_j − m̄_{−j}) / m̄_{−j} > k for positive m̄_{−j}; a class whose other units are
    all silent puts every active unit in the ensemble, as the paper's rule would (∞ > k).
    """
    mm = as_2d(m, "m")
    h = mm.shape[1]
    loo = (mm.sum(axis=1, keepdims=True) - mm) / (h - 1)
    out = mm > (1.0 + k) * loo
    out[np.isnan(mm).any(axis=1)] = False
    return out


def ensembles_quantile(
    x: ArrayLike, labels: ArrayLike, q: float = 0.9, num_classes: int | None = None
) -> np.ndarray:
    """Quantile rule → ``(K, H)`` bool: class-median of unit j > q-quantile of all class-c entries."""
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    kk = _num_classes(y, num_classes)
    out = np.zeros((kk, a.shape[1]), dtype=bool)
    for c in range(kk):
        xc = a[y == c]
        if xc.shape[0] == 0:
            continue
        out[c] = np.median(xc, axis=0) > np.quantile(xc, q)
    return out


def benjamini_hochberg(p: ArrayLike, alpha: float = 0.05) -> np.ndarray:
    """Benjamini–Hochberg step-up procedure: boolean rejections, same shape as ``p``.

    Sort the m p-values p_(1) ≤ … ≤ p_(m); let i* be the largest i with p_(i) ≤ α i / m;
    reject the hypotheses of p_(1), …, p_(i*). NaN p-values are never rejected (and do not
    count towards m).
    """
    pa = np.asarray(p, dtype=np.float64)
    flat = pa.ravel()
    ok = ~np.isnan(flat)
    pv = flat[ok]
    m = pv.size
    rej = np.zeros(flat.shape, dtype=bool)
    if m:
        order = np.argsort(pv, kind="stable")
        below = pv[order] <= alpha * np.arange(1, m + 1) / m
        if below.any():
            istar = int(np.nonzero(below)[0].max())
            sub = np.zeros(m, dtype=bool)
            sub[order[: istar + 1]] = True
            rej[np.nonzero(ok)[0]] = sub
    return rej.reshape(pa.shape)


def ensembles_test(
    x: ArrayLike,
    labels: ArrayLike,
    alpha: float = 0.05,
    min_score: float = 0.5,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest Mann–Whitney test per (class, unit) with BH-FDR control.

    For each class c and unit j, test H0: class-c activations of unit j are not
    stochastically larger than its other-class activations (one-sided, asymptotic normal
    approximation with tie correction, as :func:`scipy.stats.mannwhitneyu`). BH at level
    ``alpha`` over all K·H tests; a rejected (c, j) joins E_c if also its one-vs-rest
    selectivity score is at least ``min_score`` (effect size; 0.5 ⇔ μ_c ≥ 3 μ_rest, the
    k = 2 scale of the LOO rule). Constant units get p = NaN and never join.

    Returns:
        ``(members (K, H) bool, pvalues (K, H))``.
    """
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    kk = _num_classes(y, num_classes)
    pvals = np.full((kk, a.shape[1]), np.nan)
    for c in range(kk):
        inc = y == c
        if inc.sum() == 0 or (~inc).sum() == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            res = stats.mannwhitneyu(a[inc], a[~inc], alternative="greater", axis=0, method="asymptotic")
        pvals[c] = res.pvalue
    rej = benjamini_hochberg(pvals, alpha)
    score = one_vs_rest_selectivity(class_means(a, y, kk))
    return rej & (np.nan_to_num(score, nan=-1.0) >= min_score), pvals


def ensemble_sizes(members: ArrayLike) -> np.ndarray:
    """Number of units in each ensemble: ``(K,)`` int from membership ``(K, H)``."""
    return np.asarray(members, dtype=bool).sum(axis=1)


def overlap_counts(members: ArrayLike) -> np.ndarray:
    """``(K, K)`` matrix |E_a ∩ E_b| (diagonal = ensemble sizes)."""
    e = np.asarray(members, dtype=np.int64)
    return e @ e.T


def jaccard_matrix(members: ArrayLike, members_b: ArrayLike | None = None) -> np.ndarray:
    """Jaccard |E_a ∩ F_b| / |E_a ∪ F_b| ``(K, K')``; F = E if ``members_b`` is None.

    Two empty sets give NaN (similarity undefined).
    """
    e = np.asarray(members, dtype=np.int64)
    f = e if members_b is None else np.asarray(members_b, dtype=np.int64)
    inter = e @ f.T
    union = e.sum(1)[:, None] + f.sum(1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union == 0, np.nan, inter / np.maximum(union, 1))


def mixed_selectivity(members: ArrayLike) -> dict[str, int]:
    """Counts of units by number of ensembles they belong to.

    Returns:
        dict with ``n_units_in_any`` (≥ 1 ensemble), ``n_mixed`` (≥ 2 ensembles, the paper's
        mixed-selectivity units), ``n_max`` (largest number of ensembles one unit is in).
    """
    per_unit = np.asarray(members, dtype=bool).sum(axis=0)
    return {
        "n_units_in_any": int((per_unit >= 1).sum()),
        "n_mixed": int((per_unit >= 2).sum()),
        "n_max": int(per_unit.max()) if per_unit.size else 0,
    }


def specificity_stats(members: ArrayLike) -> dict[str, float]:
    """How category-specific a set of ensembles is.

    Returns:
        ``exclusive_frac``: fraction of ensemble units that belong to exactly one ensemble
        (1 = fully category-specific); ``mean_offdiag_jaccard``: mean Jaccard between
        ensembles of different classes, NaN pairs ignored (0 = disjoint).
    """
    e = np.asarray(members, dtype=bool)
    per_unit = e.sum(axis=0)
    any_ = per_unit >= 1
    excl = float((per_unit == 1).sum() / any_.sum()) if any_.any() else float("nan")
    j = jaccard_matrix(e)
    off = j[~np.eye(j.shape[0], dtype=bool)]
    off = off[~np.isnan(off)]
    return {
        "exclusive_frac": excl,
        "mean_offdiag_jaccard": float(off.mean()) if off.size else float("nan"),
    }
