"""Verdict statistics against training length (``ff_representations`` snapshots).

One panel per statistic; x = epochs (per layer for greedy FF, global for BP/FF and BP) on a
log axis; one line per algorithm (mean over seeds) with an interval band computed by the caller (the
experiment's 95 % Student-t interval of the mean); the paper's value (or the verdict's fixed
threshold) as a dashed reference line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from implicitbias.viz.base import MODEL_COLORS, MODEL_NAMES, new_figure, save

__all__ = ["training_length", "Curve"]

#: One line of a panel: ``(epochs (T,), mean (T,), low (T,), high (T,), number of seeds)``.
Curve = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]


def training_length(
    curves: Mapping[str, Mapping[str, Curve]],
    panels: Sequence[tuple[str, str, Sequence[str]]],
    refs: Mapping[str, Mapping[str, tuple[float, str]]],
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw the training-length figure of one dataset.

    Args:
        curves: per series (``"ff"``, ``"bpff"``, ``"bp"``, ``"zero_shot"``) and statistic, a
            :data:`Curve` ``(epochs (T,), mean (T,), low (T,), high (T,), n)``.
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
            c = curves.get(s, {}).get(key)
            if c is None or not len(c[0]):
                continue
            x, m, lo, hi, n_seeds = c
            color = MODEL_COLORS.get(s, "#7f7f7f")
            name = MODEL_NAMES.get(s, "FF, held-out class" if s == "zero_shot" else s)
            ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
            ax.plot(x, m, "o-", color=color, ms=3, lw=1.2, label=f"{name} (n={n_seeds})")
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
