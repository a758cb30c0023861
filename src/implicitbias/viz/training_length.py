"""Verdict statistics against training length (``ff_representations`` snapshots).

One panel per statistic; x = epochs (per layer for greedy FF, global for BP/FF and BP) on a
log axis; one line per algorithm (mean over seeds) with the 95 % Student-t interval of the
mean as a band; the paper's value (or the verdict's fixed threshold) as a dashed reference line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from implicitbias.viz.base import MODEL_COLORS, MODEL_NAMES, new_figure, save

__all__ = ["training_length"]


def _mean_band(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95 % t-interval per row of ``Y (T, S)`` over finite entries."""
    from scipy import stats

    mean, lo, hi = (np.full(Y.shape[0], np.nan) for _ in range(3))
    for i, row in enumerate(Y):
        v = row[np.isfinite(row)]
        if v.size == 0:
            continue
        mean[i] = v.mean()
        half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
        lo[i], hi[i] = mean[i] - half, mean[i] + half
    return mean, lo, hi


def training_length(
    traj: Mapping[str, Any],
    panels: Sequence[tuple[str, str, Sequence[str]]],
    refs: Mapping[str, Mapping[str, tuple[float, str]]],
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw the training-length figure of one dataset.

    Args:
        traj: :mod:`implicitbias.experiments.ff.trajectory` output for one dataset: per series
            (``"ff"``, ``"bpff"``, ``"bp"``, ``"zero_shot"``) ``{"epochs": [...], stat: [[seed values]]}``.
        panels: ``(stat key, y label, series drawn)`` per panel.
        refs: ``{stat: {series or "*": (value, label)}}`` dashed reference lines (paper values,
            verdict thresholds).
        path: output PNG.
    """
    n = len(panels)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = new_figure(rows, cols, figsize=(4.2 * cols, 3.1 * rows))
    for i, (key, label, series) in enumerate(panels):
        ax = axes[i // cols, i % cols]
        for s in series:
            t = traj.get(s)
            if not t or key not in t or not t["epochs"]:
                continue
            x = np.asarray(t["epochs"], dtype=float)
            Y = np.asarray(t[key], dtype=float).reshape(len(x), -1)
            m, lo, hi = _mean_band(Y)
            color = MODEL_COLORS.get(s, "#7f7f7f")
            name = MODEL_NAMES.get(s, "FF, held-out class" if s == "zero_shot" else s)
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
            ax.plot(x, m, "o-", color=color, ms=3, lw=1.2, label=f"{name} (n={Y.shape[1]})")
        for s, (value, rlabel) in refs.get(key, {}).items():
            ax.axhline(value, color=MODEL_COLORS.get(s, "k"), ls="--", lw=0.9, label=rlabel)
        ax.set_xscale("log")
        ax.set_xlabel("epochs (FF: per layer)")
        ax.set_ylabel(label)
        ax.legend(fontsize=6.5, loc="best")
    for j in range(n, rows * cols):
        axes[j // cols, j % cols].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)
