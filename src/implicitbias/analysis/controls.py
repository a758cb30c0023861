"""Label-conditioning controls and a label-shuffle null for ensemble statistics.

FF and BP/FF representations are recorded with a label embedded in the input. The paper
used the **true** label only, so "category-specific ensembles" could partly be the label
pixel at work. Here the same statistics are computed on the activations recorded under the
true, the neutral and a wrong label, always grouping samples by their **true** class:
ensembles that survive the neutral/wrong conditions are driven by the image.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels
from implicitbias.analysis.ensembles import (
    class_means,
    ensemble_sizes,
    ensembles_loo,
    jaccard_matrix,
    selectivity_index,
    specificity_stats,
)
from implicitbias.analysis.sparsity import active_fraction, hoyer_summary
from implicitbias.analysis.stability import split_half_stability
from implicitbias.seeding import numpy_generator

__all__ = ["condition_stats", "label_controls", "shuffled_label_null", "ensemble_selectivity"]


def ensemble_selectivity(m: np.ndarray, members: np.ndarray) -> float:
    """Mean class-selectivity index (:func:`selectivity_index`) of the units in any ensemble."""
    any_ = np.asarray(members, dtype=bool).any(axis=0)
    si = selectivity_index(m)[any_]
    si = si[~np.isnan(si)]
    return float(si.mean()) if si.size else float("nan")


def condition_stats(x: ArrayLike, labels: ArrayLike, k: float = 1.0, num_classes: int | None = None) -> dict[str, Any]:
    """Sparsity and LOO-ensemble statistics of one condition ``x`` ``(N, H)``, grouped by ``labels``.

    Keys: ``hoyer``, ``hoyer_n_zero``, ``active_frac``, ``ensemble_sizes``, ``exclusive_frac``,
    ``mean_offdiag_jaccard`` (:func:`specificity_stats`), ``split_half_jaccard``
    (:func:`split_half_stability`), ``ensemble_si`` (:func:`ensemble_selectivity`),
    ``_members`` (the ``(K, H)`` mask).
    """
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    kk = int(num_classes if num_classes is not None else y.max() + 1)
    m = class_means(a, y, kk)
    ens = ensembles_loo(m, k)
    hs = hoyer_summary(a)
    return {
        "split_half_jaccard": split_half_stability(a, y, k, num_classes=kk)["mean_jaccard"],
        "ensemble_si": ensemble_selectivity(m, ens),
        "hoyer": hs.mean,
        "hoyer_n_zero": hs.n_zero,
        "active_frac": float(active_fraction(a).mean()),
        "ensemble_sizes": ensemble_sizes(ens).tolist(),
        **specificity_stats(ens),
        "_members": ens,
    }


def label_controls(
    conditions: dict[str, ArrayLike], labels: ArrayLike, k: float = 1.0, reference: str = "true"
) -> dict[str, dict[str, Any]]:
    """:func:`condition_stats` per condition, plus each condition's per-class Jaccard with ``reference``.

    Args:
        conditions: name → activations ``(N, H)`` of the same N samples (e.g. ``true``,
            ``neutral``, ``wrong``).
        labels: true classes ``(N,)``.
        k: LOO parameter.
        reference: the condition the others are compared with.

    Returns:
        name → stats dict (``_members`` holds the ``(K, H)`` membership mask), with
        ``jaccard_vs_reference`` (K floats) and its NaN-ignoring mean.
    """
    y = as_labels(labels)
    kk = int(y.max() + 1)
    out = {name: condition_stats(x, y, k, kk) for name, x in conditions.items()}
    if reference in out:
        ref = out[reference]["_members"]
        for st in out.values():
            jac = np.diag(jaccard_matrix(st["_members"], ref))
            ok = ~np.isnan(jac)
            st["jaccard_vs_reference"] = [float(v) for v in jac]
            st["mean_jaccard_vs_reference"] = float(jac[ok].mean()) if ok.any() else float("nan")
    return out


def shuffled_label_null(
    x: ArrayLike, labels: ArrayLike, k: float = 1.0, seed: int = 0, repeats: int = 5
) -> dict[str, float]:
    """Specificity statistics of LOO ensembles computed on randomly permuted labels.

    Under the null (no class structure) every class-mean profile is ≈ the global mean
    profile, so the "ensembles" are sampling noise: they do not replicate across halves of
    the data (low ``split_half_jaccard``) and their units are unselective (low
    ``ensemble_si``, measured on the shuffled class means). Note that the LOO rule still
    finds "ensembles" under the null (``mean_size``), and that they can look exclusive:
    exclusivity alone is not evidence of category specificity. Averages over ``repeats``
    permutations (NaN-ignoring).
    """
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    kk = int(y.max() + 1)
    rng = numpy_generator(seed, "shuffled_label_null")
    ex, jac, size, half, si = [], [], [], [], []
    for r in range(repeats):
        yp = rng.permutation(y)
        m = class_means(a, yp, kk)
        ens = ensembles_loo(m, k)
        st = specificity_stats(ens)
        ex.append(st["exclusive_frac"])
        jac.append(st["mean_offdiag_jaccard"])
        size.append(float(ensemble_sizes(ens).mean()))
        half.append(split_half_stability(a, yp, k, seed=r, num_classes=kk)["mean_jaccard"])
        si.append(ensemble_selectivity(m, ens))

    def _mean(v: list[float]) -> float:
        arr = np.asarray(v, dtype=float)
        return float(arr[~np.isnan(arr)].mean()) if np.any(~np.isnan(arr)) else float("nan")

    return {
        "exclusive_frac": _mean(ex),
        "mean_offdiag_jaccard": _mean(jac),
        "mean_size": _mean(size),
        "split_half_jaccard": _mean(half),
        "ensemble_si": _mean(si),
    }
