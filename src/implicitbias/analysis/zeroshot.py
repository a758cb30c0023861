"""Zero-shot (unseen-category) ensembles: protocol helpers (reference §4.7, a proposal).

Protocol: train with class u held out entirely (the FF engine's ``exclude_classes=(u,)``),
record test activations (variant A: u's never-trained label slot set, i.e. the "true"
condition; variant B: the neutral label), then ask whether the held-out images evoke an
ensemble of their own. :func:`zero_shot_stats` measures, on two stratified halves of the
test set (ensembles found on half 1, everything evaluated on half 2):

* ``size``: |E_u| (LOO rule on half 1);
* ``split_half_jaccard``: Jaccard of E_u found on half 1 vs half 2 (consistency);
* ``max_jaccard_seen``: largest Jaccard of E_u with a seen class's ensemble (distinctness);
* ``hoyer_unseen`` / ``hoyer_seen``: population Hoyer on the unseen vs the seen classes;
* ``nearest_ensemble_recall``: fraction of half-2 unseen-class samples whose highest
  mean activation over ensembles (score_c = mean_{j∈E_c} x_j) is on E_u, and
  ``nearest_ensemble_acc`` over all half-2 samples.

The ensemble "forms" (:func:`zero_shot_forms`) if it is non-empty, consistent
(split-half Jaccard ≥ 0.5) and distinct (max Jaccard with seen ensembles < 0.5).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels
from implicitbias.analysis.ensembles import class_means, ensembles_loo, jaccard_matrix
from implicitbias.analysis.sparsity import hoyer_per_sample
from implicitbias.seeding import numpy_generator

__all__ = ["nearest_ensemble_predict", "zero_shot_stats", "zero_shot_forms"]


def nearest_ensemble_predict(x: ArrayLike, members: ArrayLike) -> np.ndarray:
    """argmax_c of the mean activation over ensemble E_c for each row of ``x`` ``(N, H)``.

    Empty ensembles score −∞. Returns ``(N,)`` int64.
    """
    a = as_2d(x)
    e = np.asarray(members).astype(a.dtype)
    sizes = e.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (a @ e.T) / sizes[None, :]
    score[:, sizes == 0] = -np.inf
    return score.argmax(axis=1).astype(np.int64)


def zero_shot_stats(
    x: ArrayLike, labels: ArrayLike, unseen: int, k: float = 1.0, seed: int = 0
) -> dict[str, Any]:
    """Statistics of the held-out class ``unseen`` (see module docstring)."""
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    kk = int(y.max() + 1)
    if not (y == unseen).any():
        raise ValueError(f"no samples of the unseen class {unseen}")
    rng = numpy_generator(seed, "zero_shot_split")
    half = np.zeros(y.size, dtype=bool)
    for c in range(kk):
        idx = np.nonzero(y == c)[0]
        half[rng.permutation(idx)[: idx.size // 2]] = True
    e1 = ensembles_loo(class_means(a[half], y[half], kk), k)
    e2 = ensembles_loo(class_means(a[~half], y[~half], kk), k)
    jac12 = jaccard_matrix(e1[unseen : unseen + 1], e2[unseen : unseen + 1])[0, 0]
    seen = [c for c in range(kk) if c != unseen]
    jseen = jaccard_matrix(e1[unseen : unseen + 1], e1[seen])[0]
    h = hoyer_per_sample(a)
    pred = nearest_ensemble_predict(a[~half], e1)
    y2 = y[~half]
    return {
        "unseen": int(unseen),
        "size": int(e1[unseen].sum()),
        "split_half_jaccard": float(jac12),
        "max_jaccard_seen": float(np.nanmax(jseen)) if np.any(~np.isnan(jseen)) else 0.0,
        "hoyer_unseen": float(np.nanmean(h[y == unseen])),
        "hoyer_seen": float(np.nanmean(h[y != unseen])),
        "nearest_ensemble_recall": float((pred[y2 == unseen] == unseen).mean()),
        "nearest_ensemble_acc": float((pred == y2).mean()),
    }


def zero_shot_forms(st: dict[str, Any], min_consistency: float = 0.5, max_overlap: float = 0.5) -> bool:
    """Whether the unseen-class ensemble is non-empty, consistent and distinct."""
    return bool(
        st["size"] > 0
        and st["split_half_jaccard"] >= min_consistency
        and st["max_jaccard_seen"] < max_overlap
    )
