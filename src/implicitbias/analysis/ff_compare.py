"""Cross-run comparisons: seed aggregation, cross-seed ensemble stability, overlap vs similarity.

Inputs are the dicts of :func:`implicitbias.analysis.representations.analyze_representations`
(one per run; their private ``_profile``/``_members`` arrays included).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels
from implicitbias.analysis.ensembles import class_means, jaccard_matrix, overlap_counts
from implicitbias.analysis.stability import ensemble_stability_seeds

__all__ = [
    "seed_values",
    "cross_seed_stability",
    "input_similarity",
    "overlap_similarity_rho",
    "group_overlap_fraction",
    "layer_table",
    "per_class_hoyer",
]


def seed_values(results: Sequence[dict[str, Any]], layer: int, key: str, sub: str | None = None) -> np.ndarray:
    """One number per run: ``results[r]["layers"][layer - 1][key]`` (``[sub]`` if given) as floats."""
    out = []
    for r in results:
        v = r["layers"][layer - 1].get(key)
        if sub is not None and isinstance(v, dict):
            v = v.get(sub)
        out.append(np.nan if v is None else float(v))
    return np.asarray(out, dtype=float)


def cross_seed_stability(results: Sequence[dict[str, Any]], layer: int, k: float = 1.0) -> list[float]:
    """Mean per-class Jaccard of LOO ensembles between run 0 and each other run (Hungarian-matched)."""
    if len(results) < 2:
        return []
    m0 = results[0]["layers"][layer - 1]["_profile"]
    return [
        float(ensemble_stability_seeds(m0, r["layers"][layer - 1]["_profile"], k)["mean_jaccard"])
        for r in results[1:]
    ]


def input_similarity(x: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Visual similarity of classes: cosine similarity of their mean input images ``(K, K)``.

    Inputs are centred by the global mean image first, so that the shared background does
    not make every pair look alike.
    """
    a = as_2d(x)
    y = as_labels(labels, a.shape[0])
    m = class_means(a - a.mean(axis=0, keepdims=True), y)
    n = np.linalg.norm(m, axis=1, keepdims=True)
    u = m / np.where(n > 0, n, 1.0)
    return u @ u.T


def overlap_similarity_rho(members: ArrayLike, similarity: ArrayLike) -> float:
    """Spearman ρ between ensemble Jaccard and class similarity over the K(K−1)/2 class pairs.

    NaN Jaccards (two empty ensembles) count as 0 overlap. NaN if either is constant.
    """
    jac = np.nan_to_num(jaccard_matrix(members), nan=0.0)
    sim = np.asarray(similarity, dtype=float)
    iu = np.triu_indices(jac.shape[0], 1)
    a, b = jac[iu], sim[iu]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def group_overlap_fraction(members: ArrayLike, group: Sequence[int]) -> float:
    """Share of all between-class overlap |E_a ∩ E_b| (a < b) that falls on pairs inside ``group``.

    E.g. the Fashion-MNIST upper-body garments {T-shirt 0, Pullover 2, Coat 4, Shirt 6}: the
    paper saw overlaps only there (fraction 1). NaN if no overlap at all.
    """
    ov = overlap_counts(members).astype(float)
    iu = np.triu_indices(ov.shape[0], 1)
    total = ov[iu].sum()
    if total == 0:
        return float("nan")
    g = set(int(c) for c in group)
    inside = sum(ov[i, j] for i, j in zip(*iu, strict=True) if i in g and j in g)
    return float(inside / total)


def _mean_of(rs: Sequence[dict[str, Any]], layer: int, key: str, sub: str) -> float | None:
    """Seed mean of ``layers[layer-1][key][sub]`` where present (None if absent everywhere)."""
    v = [r["layers"][layer - 1][key][sub] for r in rs if key in r["layers"][layer - 1]]
    v = [float(x) for x in v if x is not None]
    return float(np.mean(v)) if v else None


def layer_table(
    results: dict[str, dict[str, list[dict[str, Any]]]],
    k: float = 1.0,
    paper_hoyer: dict[str, dict[str, list[tuple[float, float]]]] | None = None,
    with_id: bool = True,
) -> list[dict[str, Any]]:
    """One row per (dataset, algo, layer) of ``results[ds][algo] = [analysis per seed]``.

    Seed means / sds of Hoyer, active and dead fractions, ensemble sizes, mixed units,
    TwoNN ID, accuracy, cross-seed matched ensemble Jaccard, and the paper's Hoyer range.
    """
    rows = []
    for ds, by_algo in results.items():
        for algo, rs in by_algo.items():
            for li in range(1, len(rs[0]["layers"]) + 1):
                h = seed_values(rs, li, "hoyer", "mean")
                width = rs[0]["layers"][li - 1]["width"]
                sizes = np.array([np.mean(r["layers"][li - 1]["ensemble_sizes"]) for r in rs])
                acc = np.array([float(r["test_acc"]) for r in rs])
                paper = (paper_hoyer or {}).get(ds, {}).get(algo)
                rows.append({
                    "dataset": ds, "algo": algo, "layer": li, "width": width, "seeds": len(rs),
                    "hoyer_mean": float(h.mean()), "hoyer_sd": float(h.std(ddof=1)) if h.size > 1 else 0.0,
                    "hoyer_seed0": float(h[0]),
                    "hoyer_n_zero_rows": int(seed_values(rs, li, "hoyer", "n_zero").sum()),
                    "active_frac": float(seed_values(rs, li, "active_frac").mean()),
                    "dead_frac": float(seed_values(rs, li, "dead_frac").mean()),
                    "ensemble_size_mean": float(sizes.mean()), "ensemble_frac_mean": float(sizes.mean() / width),
                    "n_mixed_mean": float(np.mean([r["layers"][li - 1]["mixed"]["n_mixed"] for r in rs])),
                    "twonn_id_mean": float(np.nanmean(seed_values(rs, li, "twonn_id"))) if with_id else None,
                    "cross_seed_jaccard": cross_seed_stability(rs, li, k),
                    "acc_mean": float(acc.mean()), "acc_sd": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
                    "paper_hoyer_range": list(paper[li - 1]) if paper and li <= len(paper) else None,
                    # inhibition (reference §4.8): weight/bias signs; silencing by bias vs inhibition
                    "neg_weight_frac": _mean_of(rs, li, "weights", "neg_weight_frac"),
                    "mean_bias": _mean_of(rs, li, "weights", "mean_bias"),
                    "silenced_by_bias_frac": _mean_of(rs, li, "drive", "silenced_by_bias_frac"),
                })
    return rows


def per_class_hoyer(R: dict[str, list[dict[str, Any]]], k: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per algo: ``(L, K)`` mean and sd over seeds of the per-class Hoyer."""
    mean, sd = {}, {}
    for a, rs in R.items():
        v = np.array([[[np.nan if x is None else float(x) for x in layer["hoyer_per_class"][:k]] for layer in r["layers"]]
                      for r in rs])  # (S, L, K)
        with warnings.catch_warnings():  # a class with no selected sample in any seed: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean[a], sd[a] = np.nanmean(v, axis=0), np.nanstd(v, axis=0)
    return mean, sd
