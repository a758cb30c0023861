"""Representation analysis on plain ``(N, H)`` activation arrays (NumPy or torch) + labels.

Usable on any network's activations:

* :mod:`~implicitbias.analysis.sparsity` — Hoyer (population / lifetime, per layer / class,
  all-zero rows counted), active fraction, dead units, Gini;
* :mod:`~implicitbias.analysis.ensembles` — class selectivity, ensembles (leave-one-out,
  quantile, Mann–Whitney + BH-FDR), sizes, overlaps, Jaccard, mixed selectivity;
* :mod:`~implicitbias.analysis.stability` — Hungarian unit matching across seeds, split halves;
* :mod:`~implicitbias.analysis.controls` — true / neutral / wrong label controls, label-shuffle null;
* :mod:`~implicitbias.analysis.zeroshot` — unseen-class ensemble statistics;
* :mod:`~implicitbias.analysis.inhibition` — weight signs, excitatory / inhibitory drive;
* :mod:`~implicitbias.analysis.geometry` — TwoNN intrinsic dimension, linear CKA;
* :mod:`~implicitbias.analysis.ff_run` — the whole analysis of one FF-engine run directory;
* :mod:`~implicitbias.analysis.capture` — any torch model's activations by forward hooks;
* :mod:`~implicitbias.analysis.activations_file` — the activations file and its analysis.
"""

from implicitbias.analysis.activations_file import load_activations, save_activations
from implicitbias.analysis.capture import Captured, capture
from implicitbias.analysis.controls import condition_stats, label_controls, shuffled_label_null
from implicitbias.analysis.ensembles import (
    benjamini_hochberg,
    class_means,
    ensemble_sizes,
    ensembles_loo,
    ensembles_quantile,
    ensembles_test,
    jaccard_matrix,
    mixed_selectivity,
    one_vs_rest_selectivity,
    overlap_counts,
    selectivity_index,
    specificity_stats,
)
from implicitbias.analysis.geometry import (
    LinearCKAAccumulator,
    cka_matrix,
    linear_cka,
    twonn_dimension,
)
from implicitbias.analysis.inhibition import drive_decomposition, drive_summary, weight_sign_stats
from implicitbias.analysis.sparsity import (
    HoyerSummary,
    active_fraction,
    dead_unit_fraction,
    gini,
    hoyer,
    hoyer_per_class,
    hoyer_per_sample,
    hoyer_per_unit,
    hoyer_summary,
)
from implicitbias.analysis.stability import (
    ensemble_stability_seeds,
    match_units,
    split_half_stability,
)
from implicitbias.analysis.zeroshot import (
    nearest_ensemble_predict,
    zero_shot_forms,
    zero_shot_stats,
)

__all__ = [
    "Captured", "capture", "load_activations", "save_activations",
    "HoyerSummary", "LinearCKAAccumulator", "active_fraction", "benjamini_hochberg", "cka_matrix",
    "class_means", "condition_stats", "dead_unit_fraction", "drive_decomposition", "drive_summary",
    "ensemble_sizes", "ensemble_stability_seeds", "ensembles_loo", "ensembles_quantile",
    "ensembles_test", "gini", "hoyer", "hoyer_per_class", "hoyer_per_sample", "hoyer_per_unit",
    "hoyer_summary", "jaccard_matrix", "label_controls", "linear_cka", "match_units",
    "mixed_selectivity", "nearest_ensemble_predict", "one_vs_rest_selectivity", "overlap_counts",
    "selectivity_index", "shuffled_label_null", "specificity_stats", "split_half_stability",
    "twonn_dimension", "weight_sign_stats", "zero_shot_forms", "zero_shot_stats",
]
