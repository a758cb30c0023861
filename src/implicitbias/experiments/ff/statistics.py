"""The verdict statistics of ``ff_representations``, per run and across seeds.

Per analysed run (:func:`implicitbias.ff.analyze_run.analyze_run` output), layer 1 of the
true-label condition on correctly classified test samples (the paper's protocol):

* ``hoyer``: mean Hoyer sparseness (√H − ‖x‖₁/‖x‖₂)/(√H − 1) over samples;
* ``dead``: fraction of units silent on every selected sample;
* ``acc``: test accuracy of the run's prediction rule;
* ``exclusive``: fraction of ensemble units (k = 1 leave-one-out rule) in one class's
  ensemble only; ``split_half``: mean per-class Jaccard of the ensembles found on two halves
  of the test set (label-conditioned runs; NaN for BP, which has no label controls);
* ``rho``: Spearman ρ between the pairwise ensemble Jaccard and the cosine similarity of the
  centred class-mean input images.

Per zero-shot run (one class u held out of training; :func:`zero_shot_row`):
``zs_split_half`` (consistency of E_u), ``zs_max_jaccard`` (largest Jaccard of E_u with a seen
class's ensemble), ``zs_size`` and ``zs_forms`` (1 if E_u is non-empty, consistent ≥ 0.5 and
distinct < 0.5, else 0).

Across seeds: :func:`interval95` is the two-sided 95 % Student-t interval of the mean,
x̄ ± t_{0.975, n−1} · s/√n (s: sample sd, ddof = 1); one value gives (x̄, x̄).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from implicitbias.analysis.ff_compare import overlap_similarity_rho
from implicitbias.analysis.zeroshot import zero_shot_forms, zero_shot_stats

__all__ = ["RUN_STATS", "ZS_STATS", "run_stats", "zero_shot_row", "interval95", "mean_ci", "paired"]

#: (key, label) of the per-run statistics.
RUN_STATS: tuple[tuple[str, str], ...] = (
    ("hoyer", "layer-1 Hoyer"),
    ("dead", "layer-1 dead fraction"),
    ("acc", "test accuracy"),
    ("exclusive", "exclusive-ensemble fraction"),
    ("split_half", "split-half Jaccard"),
    ("rho", "ρ(overlap, visual similarity)"),
)
#: (key, label) of the zero-shot statistics.
ZS_STATS: tuple[tuple[str, str], ...] = (
    ("zs_split_half", "zero-shot consistency (split-half J)"),
    ("zs_max_jaccard", "zero-shot max Jaccard with a seen class"),
    ("zs_forms", "zero-shot ensembles formed (fraction)"),
)


def run_stats(res: dict[str, Any], similarity: np.ndarray | None) -> dict[str, float]:
    """The per-run statistics (module docstring) of one analysed run."""
    l1 = res["layers"][0]
    ctl = l1.get("controls", {}).get("true")
    rho = overlap_similarity_rho(l1["_members"], similarity) if similarity is not None and "_members" in l1 else float("nan")
    return {
        "hoyer": float(l1["hoyer"]["mean"]),
        "dead": float(l1["dead_frac"]),
        "acc": float(res["test_acc"]),
        "exclusive": float(ctl["exclusive_frac"] if ctl else l1.get("exclusive_frac", float("nan"))),
        "split_half": float(ctl["split_half_jaccard"]) if ctl else float("nan"),
        "rho": float(rho),
    }


def zero_shot_row(layer1: np.ndarray, labels: np.ndarray, unseen: int, k: float, seed: int) -> dict[str, Any]:
    """Zero-shot statistics of the held-out class ``unseen`` from layer-1 activities ``(N, H)``."""
    st = zero_shot_stats(layer1, labels, unseen, k, seed)
    return {
        "zs_split_half": float(st["split_half_jaccard"]),
        "zs_max_jaccard": float(st["max_jaccard_seen"]),
        "zs_size": float(st["size"]),
        "zs_forms": float(bool(zero_shot_forms(st))),
    }


def interval95(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """``(mean, low, high)``: the 95 % Student-t interval of the mean of the finite values."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(v.mean())
    if v.size == 1:
        return m, m, m
    half = float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return m, m - half, m + half


def mean_ci(values: Sequence[float] | np.ndarray, fmt: str = "{:.3f}") -> str:
    """``"mean [low, high] (n=…)"`` with the 95 % interval of :func:`interval95`."""
    v = np.asarray(values, dtype=float)
    m, lo, hi = interval95(v)
    n = int(np.isfinite(v).sum())
    if n == 0:
        return "nan"
    return f"{fmt.format(m)} [{fmt.format(lo)}, {fmt.format(hi)}] (n={n})"


def paired(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """``a − b`` paired by seed (the first min(len) seeds)."""
    n = min(len(a), len(b))
    return np.asarray(a[:n], dtype=float) - np.asarray(b[:n], dtype=float)
