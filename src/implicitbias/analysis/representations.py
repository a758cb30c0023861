"""The whole representation analysis of one network's activations (arrays only).

Input: a :class:`Representations` — test-set activations ``(N, H_l)`` per layer under the
true / neutral / wrong label, true labels and predictions. :func:`analyze_representations`
computes every per-layer statistic of :mod:`implicitbias.analysis` (sparsity, ensembles,
overlaps, controls, stability, geometry) in one JSON-safe dict (after :func:`to_json`).
Reading FF run directories is :mod:`implicitbias.ff.analyze_run`'s job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from implicitbias.analysis.controls import ensemble_selectivity, label_controls, shuffled_label_null
from implicitbias.analysis.ensembles import (
    class_means,
    ensemble_sizes,
    ensembles_loo,
    ensembles_quantile,
    ensembles_test,
    jaccard_matrix,
    mixed_selectivity,
    overlap_counts,
    selectivity_index,
    specificity_stats,
)
from implicitbias.analysis.geometry import linear_cka, twonn_dimension
from implicitbias.analysis.sparsity import (
    active_fraction,
    dead_unit_fraction,
    gini,
    hoyer_per_class,
    hoyer_per_unit,
    hoyer_summary,
)
from implicitbias.seeding import numpy_generator

__all__ = ["Representations", "AnalysisOptions", "analyze_representations", "ensemble_test_safe", "to_json", "CONDITIONS"]

log = logging.getLogger(__name__)
CONDITIONS = ("true", "neutral", "wrong")


@dataclass
class Representations:
    """Activations of one network on a labelled set, per condition and layer.

    Attributes:
        labels, pred: ``(N,)`` int64 true and predicted classes.
        layers: condition (``true``, ``neutral``, ``wrong``: the label given to the network) →
            list over layers of ``(N, H_l)`` float32 arrays; networks that see no label have
            the ``true`` arrays under every condition.
        label_conditioned: the network's input carries a label (the controls are meaningful).
    """

    labels: np.ndarray
    pred: np.ndarray
    layers: dict[str, list[np.ndarray]]
    label_conditioned: bool = True

    @property
    def num_layers(self) -> int:
        return len(self.layers["true"])


@dataclass(frozen=True)
class AnalysisOptions:
    """Knobs of :func:`analyze_representations`.

    Attributes:
        samples: ``correct`` (paper protocol: correctly classified test samples only) or ``all``.
        k: LOO parameter for ensembles/overlaps (paper: 1); ``k_profile`` for profiles (2).
        tau: threshold of the second active-fraction statistic.
        n_id: points subsampled for TwoNN (0 = skip).
        stat_test: also run the Mann–Whitney + BH ensemble rule (slower).
        controls: compute the neutral/wrong-label controls and the shuffled-label null.
        cka: compute the linear CKA between every pair of layers (``cka_layers``; empty if off).
        max_layers: analyse only the first ``max_layers`` layers (0 = every layer).
        seed: seed of every subsample and split.
    """

    samples: str = "correct"
    k: float = 1.0
    k_profile: float = 2.0
    tau: float = 0.1
    n_id: int = 2000
    stat_test: bool = True
    controls: bool = True
    cka: bool = True
    max_layers: int = 0
    seed: int = 0


def _f(v: Any) -> Any:
    """JSON-safe scalars/arrays (NaN → None)."""
    if isinstance(v, np.ndarray):
        return [_f(x) for x in v.tolist()] if v.ndim else _f(v.item())
    if isinstance(v, (list, tuple)):
        return [_f(x) for x in v]
    if isinstance(v, dict):
        return {k: _f(x) for k, x in v.items() if not k.startswith("_")}
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def analyze_representations(reps: Representations, opts: AnalysisOptions | None = None, num_classes: int | None = None) -> dict[str, Any]:
    """Per-layer statistics of one run's representations (JSON-safe dict).

    Returns:
        ``{"n_samples", "n_correct", "samples", "layers": [per-layer dict ...], "cka_layers"}``;
        each layer dict holds Hoyer (selected and all samples, per class, lifetime), active
        fractions, dead units, Gini, selectivity, LOO (k, k_profile) / quantile / test
        ensembles with sizes, overlap counts, Jaccard, mixed selectivity, split-half
        stability, label controls + shuffled null, TwoNN ID, and the class-mean profiles
        (``_profile``, not JSON) for figures and cross-seed matching.
    """
    o = opts or AnalysisOptions()
    y_all = reps.labels
    kk = int(num_classes if num_classes is not None else y_all.max() + 1)
    correct = reps.pred == y_all
    sel = correct if o.samples == "correct" else np.ones_like(correct)
    if sel.sum() < kk:
        log.warning("only %d selected samples; falling back to all samples", int(sel.sum()))
        sel = np.ones_like(correct)
    y = y_all[sel]
    out_layers = []
    n_layers = min(reps.num_layers, o.max_layers) if o.max_layers > 0 else reps.num_layers
    for li in range(n_layers):
        x_all = reps.layers["true"][li]
        x = x_all[sel]
        m = class_means(x, y, kk)
        ens = ensembles_loo(m, o.k)
        hs, hs_all = hoyer_summary(x), hoyer_summary(x_all)
        life = hoyer_per_unit(x)
        si = selectivity_index(m)
        d: dict[str, Any] = {
            "layer": li + 1,
            "width": int(x.shape[1]),
            "hoyer": hs.to_dict(),
            "hoyer_all_samples": hs_all.to_dict(),
            "hoyer_per_class": [h.mean for h in hoyer_per_class(x, y, kk)],
            "hoyer_lifetime_mean": float(np.nanmean(life)) if np.any(~np.isnan(life)) else float("nan"),
            "active_frac": float(active_fraction(x).mean()),
            "active_frac_tau": float(active_fraction(x, o.tau).mean()),
            "tau": o.tau,
            "dead_frac": dead_unit_fraction(x),
            "gini_mean": float(np.nanmean(gini(x))) if x.any() else float("nan"),
            "max_activation": float(x.max()),
            "selectivity_mean": float(np.nanmean(si)) if np.any(~np.isnan(si)) else float("nan"),
            "ensemble_sizes": ensemble_sizes(ens).tolist(),
            "ensemble_sizes_k_profile": ensemble_sizes(ensembles_loo(m, o.k_profile)).tolist(),
            "ensemble_sizes_quantile": ensemble_sizes(ensembles_quantile(x, y, num_classes=kk)).tolist(),
            "overlap": overlap_counts(ens).tolist(),
            "jaccard": jaccard_matrix(ens),
            "mixed": mixed_selectivity(ens),
            **specificity_stats(ens),  # exclusive_frac, mean_offdiag_jaccard (BP too)
            "ensemble_si": ensemble_selectivity(m, ens),
            "_profile": m,
            "_members": ens,
        }
        if o.stat_test:
            ens_t, _ = ensemble_test_safe(x, y, kk)
            d["ensemble_sizes_test"] = ensemble_sizes(ens_t).tolist()
        if o.controls and reps.label_conditioned:
            conds = {c: reps.layers[c][li][sel] for c in CONDITIONS}
            ctl = label_controls(conds, y, o.k)
            d["controls"] = {c: _f(v) for c, v in ctl.items()}
            d["shuffled_null"] = shuffled_label_null(x, y, o.k, seed=o.seed)
        if o.n_id:
            rng = numpy_generator(o.seed, "twonn", li)
            pick = rng.permutation(x_all.shape[0])[: o.n_id]
            live = x_all[pick]
            d["twonn_id"] = twonn_dimension(live[np.abs(live).sum(1) > 0]) if len(live) > 3 else float("nan")
        out_layers.append(d)
    cka = [[1.0] * n_layers for _ in range(n_layers)] if o.cka else []
    for i in range(n_layers if o.cka else 0):
        for j in range(i + 1, n_layers):
            cka[i][j] = cka[j][i] = linear_cka(reps.layers["true"][i][sel], reps.layers["true"][j][sel])
    return {
        "n_samples": int(y_all.size),
        "n_correct": int(correct.sum()),
        "accuracy_from_pred": float(correct.mean()),
        "samples": o.samples,
        "layers": out_layers,
        "cka_layers": cka,
    }


def ensemble_test_safe(x: np.ndarray, y: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`ensembles_test` on at most ~2000 samples (every s-th row) to bound the cost."""
    if x.shape[0] > 2000:
        step = int(np.ceil(x.shape[0] / 2000))
        x, y = x[::step], y[::step]
    return ensembles_test(x, y, num_classes=kk)


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """Drop the private (``_``-prefixed) arrays and make the dict JSON-safe."""
    return _f(result)
