"""Figures of the FF representation analysis (Tosato et al., arXiv 2305.18353).

* :func:`unit_order` — units grouped by preferred class (the paper's wall-plot order);
* :func:`wall_plot` — samples sorted by class (rows) × units sorted by preferred class
  (columns), so category-specific ensembles show as diagonal blocks;
* :func:`class_sparsity_bars` — per-class Hoyer, FF / BP/FF / BP side by side, one panel per layer;
* :func:`overlap_heatmap` — annotated |E_a ∩ E_b| matrix with class names;
* :func:`class_mean_profiles` — class-mean activation per unit, ensemble units marked;
* :func:`sparsity_vs_accuracy` — layer-1 Hoyer vs test accuracy across runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from implicitbias.viz.base import MODEL_COLORS, MODEL_NAMES, new_figure, save

__all__ = [
    "unit_order",
    "wall_plot",
    "class_sparsity_bars",
    "overlap_heatmap",
    "class_mean_profiles",
    "sparsity_vs_accuracy",
]


def _names(class_names: Sequence[str] | None, k: int) -> list[str]:
    return list(class_names) if class_names is not None else [str(c) for c in range(k)]


def unit_order(x: np.ndarray, labels: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the wall plot: units grouped by preferred class, silent units last.

    The preferred class of unit ``j`` is ``argmax_c m[c, j]`` of the class-mean activations
    ``m (K, H)``; within a class, units are sorted by decreasing ``m[c, j]``. Units whose
    class means are all zero (silent on these samples) come last, with preferred class ``-1``.

    Args:
        x: activations ``(N, H)``; labels: ``(N,)`` ints in ``[0, K)``; k: number of classes.

    Returns:
        ``(order (H,), preferred (H,))`` — the column permutation and each column's class.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(labels)
    k = int(y.max()) + 1 if k is None else k
    m = np.zeros((k, x.shape[1]))
    for c in range(k):
        rows = y == c
        if rows.any():
            m[c] = x[rows].mean(axis=0)
    pref = np.where(m.max(axis=0) > 0, m.argmax(axis=0), -1)
    peak = m.max(axis=0)
    key_class = np.where(pref < 0, k, pref)
    order = np.lexsort((-peak, key_class))
    return order, pref[order]


def wall_plot(
    x: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    title: str = "",
    max_rows: int = 2000,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Activation wall ``x (N, H)``: rows = samples by class (≤ ``max_rows``), columns = units
    by preferred class (:func:`unit_order`); grey lines separate the class blocks."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(labels)
    k = int(y.max()) + 1
    cols, pref = unit_order(x, y, k)
    order = np.argsort(y, kind="stable")
    order = order[:: max(1, int(np.ceil(order.size / max_rows)))]
    xs, ys = x[order][:, cols], y[order]
    fig, axes = new_figure(figsize=(8, 6))
    ax = axes[0, 0]
    vmax = float(np.quantile(xs, 0.995)) if xs.size and xs.max() > 0 else 1.0
    im = ax.imshow(xs, aspect="auto", cmap="Blues", vmin=0, vmax=max(vmax, 1e-12), interpolation="nearest")
    names = _names(class_names, k)
    ticks, tlabels = [], []
    for c in range(k):
        rows = np.nonzero(ys == c)[0]
        if rows.size:
            ticks.append(rows.mean())
            tlabels.append(names[c])
            ax.axhline(rows.max() + 0.5, color="0.6", lw=0.4)
        units = np.nonzero(pref == c)[0]
        if units.size:
            ax.axvline(units.max() + 0.5, color="0.6", lw=0.4)
    ax.set_yticks(ticks, tlabels, fontsize=7)
    ax.set_xlabel("unit (grouped by preferred class; silent units last)")
    ax.set_ylabel("test samples (sorted by class)")
    ax.set_title(title or "activation wall")
    fig.colorbar(im, ax=ax, fraction=0.03, label="activation")
    return save(fig, path)


def class_sparsity_bars(
    per_model: Mapping[str, np.ndarray],
    path: str | Path,
    class_names: Sequence[str] | None = None,
    errors: Mapping[str, np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Per-class Hoyer bars: ``per_model[algo]`` is ``(L, K)`` (mean over seeds), optional sd ``errors``."""
    models = list(per_model)
    n_layers = max(np.asarray(v).shape[0] for v in per_model.values())
    k = max(np.asarray(v).shape[1] for v in per_model.values())
    fig, axes = new_figure(n_layers, 1, figsize=(max(6, 0.7 * k + 2), 2.3 * n_layers), sharex=True)
    width = 0.8 / max(len(models), 1)
    xs = np.arange(k)
    for li in range(n_layers):
        ax = axes[li, 0]
        for mi, m in enumerate(models):
            v = np.asarray(per_model[m], dtype=float)
            if li >= v.shape[0]:
                continue
            err = np.asarray(errors[m], dtype=float)[li] if errors and m in errors else None
            ax.bar(xs + (mi - (len(models) - 1) / 2) * width, v[li], width, yerr=err,
                   color=MODEL_COLORS.get(m), label=MODEL_NAMES.get(m, m), capsize=2)
        ax.set_ylim(0, 1.18)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_ylabel(f"layer {li + 1}\nHoyer")
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(ncol=len(models), fontsize=8, loc="upper right")
    axes[-1, 0].set_xticks(xs, _names(class_names, k), rotation=30, fontsize=8)
    axes[0, 0].set_title(title or "per-class Hoyer sparseness")
    return save(fig, path)


def overlap_heatmap(
    counts: np.ndarray, path: str | Path, class_names: Sequence[str] | None = None, title: str = ""
) -> Path:
    """Annotated heatmap of ensemble overlap counts ``(K, K)`` (diagonal = ensemble sizes)."""
    c = np.asarray(counts)
    k = c.shape[0]
    fig, axes = new_figure(figsize=(0.6 * k + 2.5, 0.6 * k + 1.8))
    ax = axes[0, 0]
    off = c.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    im = ax.imshow(off, cmap="viridis")
    hi = np.nanmax(off) if np.any(~np.isnan(off)) else 0.0
    for i in range(k):
        for j in range(k):
            dark = i == j or (hi > 0 and off[i, j] > 0.6 * hi)  # dark text on bright cells
            ax.text(j, i, str(int(c[i, j])), ha="center", va="center", fontsize=7,
                    color="black" if dark else "white", fontweight="bold" if i == j else None)
    names = _names(class_names, k)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_title(title or "ensemble overlap |E_a ∩ E_b| (diagonal: size)")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return save(fig, path)


def class_mean_profiles(
    m: np.ndarray,
    members: np.ndarray,
    path: str | Path,
    class_names: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """One row per class: class-mean activation of every unit ``m (K, H)``, ensemble units in red."""
    m = np.asarray(m, dtype=float)
    e = np.asarray(members, dtype=bool)
    k, h = m.shape
    names = _names(class_names, k)
    fig, axes = new_figure(k, 1, figsize=(9, 0.9 * k + 1), sharex=True)
    units = np.arange(h)
    for c in range(k):
        ax = axes[c, 0]
        ax.vlines(units, 0, m[c], color="0.6", lw=0.6)
        ax.vlines(units[e[c]], 0, m[c, e[c]], color="crimson", lw=1.0)
        ax.set_ylabel(names[c], rotation=0, ha="right", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.text(0.995, 0.8, f"|E|={int(e[c].sum())}", transform=ax.transAxes, ha="right", fontsize=7)
    axes[-1, 0].set_xlabel("unit")
    axes[0, 0].set_title(title or "class-mean activation profiles (red: ensemble units)")
    return save(fig, path)


def sparsity_vs_accuracy(
    points: Sequence[tuple[str, float, float]], path: str | Path, title: str = "", layer: int = 1
) -> Path:
    """Scatter of (algo, Hoyer of ``layer``, test accuracy) across runs."""
    fig, axes = new_figure(figsize=(5, 4))
    ax = axes[0, 0]
    for algo in dict.fromkeys(p[0] for p in points):
        pts = np.array([(p[1], p[2]) for p in points if p[0] == algo], dtype=float)
        ax.scatter(pts[:, 0], pts[:, 1], color=MODEL_COLORS.get(algo), label=MODEL_NAMES.get(algo, algo), s=25)
    ax.set_xlabel(f"layer-{layer} Hoyer sparseness")
    ax.set_ylabel("test accuracy")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "sparsity vs accuracy")
    return save(fig, path)
