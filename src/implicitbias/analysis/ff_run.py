"""The whole representation analysis of one FF-engine run directory.

A run directory written by :func:`implicitbias.ff.train_run` holds
``representations.safetensors`` (``labels``, ``pred``, ``wrong_labels`` ``(N,)`` and
``layer{l}.{true,neutral,wrong}`` ``(N, H)`` float16 test-set activations, l = 1..L; BP runs
have no label input, so their conditions coincide), ``model.safetensors``
(``layers.{i}.weight``/``bias``), ``summary.json`` and ``config.json``.

:func:`analyze_representations` works on the arrays alone; :func:`analyze_run` adds the
run's accuracy and the weight-sign statistics. Everything returned is JSON-safe.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
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
from implicitbias.analysis.inhibition import drive_summary, weight_sign_stats
from implicitbias.analysis.sparsity import (
    active_fraction,
    dead_unit_fraction,
    gini,
    hoyer_per_class,
    hoyer_per_unit,
    hoyer_summary,
)
from implicitbias.errors import DataError, UserInputError
from implicitbias.seeding import numpy_generator

__all__ = ["FFReps", "load_representations", "analyze_representations", "analyze_run", "AnalysisOptions"]

log = logging.getLogger(__name__)
CONDITIONS = ("true", "neutral", "wrong")


@dataclass
class FFReps:
    """Test-set representations of one run.

    Attributes:
        labels, pred: ``(N,)`` int64 true and predicted classes.
        layers: condition → list over layers of ``(N, H_l)`` float32 arrays.
        summary: the run's ``summary.json`` (may be empty).
        config: the run's config dict (may be empty).
    """

    labels: np.ndarray
    pred: np.ndarray
    layers: dict[str, list[np.ndarray]]
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    label_conditioned: bool = True

    @property
    def num_layers(self) -> int:
        return len(self.layers["true"])


def _read_json(p: Path) -> dict[str, Any]:
    if not p.exists():
        return {}
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{p} is unreadable ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise DataError(f"{p} does not hold a JSON object")
    return d


def _reps_file(run_path: str | Path) -> Path:
    """``run_path/representations.safetensors``; UserInputError if the folder or file is missing."""
    path = Path(run_path)
    f = path / "representations.safetensors"
    if not path.is_dir():
        raise UserInputError(f"{path} is not a directory")
    if not f.exists():
        raise UserInputError(f"{path} has no representations.safetensors (not an FF run, or not finished)")
    return f


def check_representations(run_path: str | Path) -> None:
    """Cheap check that a run folder holds a readable ``representations.safetensors``.

    Reads only the header (safetensors checks that the data length matches it).

    Raises:
        UserInputError: the folder or the file is missing; DataError: it is truncated or corrupt.
    """
    from safetensors import safe_open

    f = _reps_file(run_path)
    try:
        with safe_open(str(f), framework="numpy") as fh:
            keys = set(fh.keys())
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for any corruption
        raise DataError(f"{f} is truncated or corrupt ({type(e).__name__}); rerun the training with --force") from None
    if "labels" not in keys:
        raise DataError(f"{f} has no 'labels' array")


def load_representations(run_path: str | Path) -> FFReps:
    """Load ``representations.safetensors`` (+ summary/config) from a run directory.

    Raises:
        UserInputError: the folder or the file is missing.
        DataError: the file lacks the expected keys.
    """
    from safetensors.numpy import load_file

    path = Path(run_path)
    f = _reps_file(path)
    try:
        arrs = load_file(str(f))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for any corruption
        raise DataError(f"{f} is truncated or corrupt ({type(e).__name__}); rerun the training with --force") from None
    if "labels" not in arrs:
        raise DataError(f"{f} has no 'labels' array")
    layers: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    idx = sorted({int(m.group(1)) for k in arrs if (m := re.fullmatch(r"layer(\d+)\.true", k))})
    if not idx:
        raise DataError(f"{f} has no layer<l>.true arrays")
    for li in idx:
        for c in CONDITIONS:
            key = f"layer{li}.{c}"
            layers[c].append(arrs[key if key in arrs else f"layer{li}.true"].astype(np.float32))
    labels = arrs["labels"].astype(np.int64)
    pred = arrs["pred"].astype(np.int64) if "pred" in arrs else labels.copy()
    cfg = _read_json(path / "config.json")
    conditioned = any(k.endswith(".neutral") for k in arrs)  # BP stores layer<l>.true only
    return FFReps(labels, pred, layers, _read_json(path / "summary.json"), cfg.get("config", cfg), conditioned)


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
        seed: seed of every subsample and split.
    """

    samples: str = "correct"
    k: float = 1.0
    k_profile: float = 2.0
    tau: float = 0.1
    n_id: int = 2000
    stat_test: bool = True
    controls: bool = True
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


def analyze_representations(reps: FFReps, opts: AnalysisOptions | None = None, num_classes: int | None = None) -> dict[str, Any]:
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
    for li in range(reps.num_layers):
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
    cka = [[1.0] * reps.num_layers for _ in range(reps.num_layers)]
    for i in range(reps.num_layers):
        for j in range(i + 1, reps.num_layers):
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


def analyze_run(run_path: str | Path, opts: AnalysisOptions | None = None) -> dict[str, Any]:
    """:func:`analyze_representations` of a run directory + accuracy and weight-sign stats."""
    from safetensors.numpy import load_file

    path = Path(run_path)
    reps = load_representations(path)
    res = analyze_representations(reps, opts)
    res["run"] = str(path)
    res["algo"] = reps.config.get("algo")
    res["dataset"] = reps.config.get("dataset")
    res["seed"] = reps.config.get("seed")
    res["test_acc"] = reps.summary.get("test_acc", res["accuracy_from_pred"])
    res["per_layer_acc"] = reps.summary.get("per_layer_acc")
    model = path / "model.safetensors"
    if model.exists():
        w = load_file(str(model))
        o = opts or AnalysisOptions()
        sel = reps.pred == reps.labels if o.samples == "correct" else np.ones(reps.labels.size, bool)
        norm = "none" if res["algo"] == "bp" else reps.config.get("layer_norm", "l2")
        eps = float(reps.config.get("norm_eps", 1e-12))
        for li, d in enumerate(res["layers"]):
            key = f"layers.{li}.weight"
            if key not in w:
                continue
            bias = w.get(f"layers.{li}.bias", np.zeros(w[key].shape[0], np.float32))
            d["weights"] = weight_sign_stats(w[key], bias)
            if li >= 1:  # input of layer l ≥ 2 = N(h_{l−1}), rebuilt from the stored activations
                inp = layer_input(reps.layers["true"][li - 1][sel], norm, eps)
                d["drive"] = drive_summary(inp, w[key], bias, reps.labels[sel], d["_members"])
    return res


def layer_input(h: np.ndarray, norm: str, eps: float = 1e-12) -> np.ndarray:
    """The FF engine's between-layer normalisation N(h) (``l2``, ``rms`` or ``none``) in NumPy."""
    h = np.asarray(h)
    h = h if h.dtype in (np.float32, np.float64) else h.astype(np.float64)
    if norm == "l2":
        return h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), eps)
    if norm == "rms":
        return h / (np.sqrt((h * h).mean(axis=1, keepdims=True)) + eps)
    if norm == "none":
        return h
    raise ValueError(f"unknown layer_norm {norm!r}")
