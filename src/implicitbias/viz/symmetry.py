"""Figures of conserved quantities in training (``symmetry_in_trained_nets``, the monitor)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from implicitbias.viz.base import new_figure, save

__all__ = ["imbalance_panels"]


def imbalance_panels(drift: Mapping[str, tuple[np.ndarray, np.ndarray]], final: Mapping[str, np.ndarray],
                     hoyer: Mapping[str, float], path: str | Path) -> Path:
    """Three panels: imbalance drift over training, final normalised imbalances, sparsity.

    Args:
        drift: run name -> ``(steps (R,), median relative drift (R,))``; drawn on a log axis
            (values are clamped at 1e-12).
        final: run name -> per-unit ``Δ_j / ‖S_j θ‖²`` at the end ``(U,)``, histogram on [-1, 1].
        hoyer: run name -> Hoyer sparsity (mean over layers), a bar each.
        path: the PNG to write.
    """
    fig, axes = new_figure(1, 3, figsize=(15, 3.8))
    ax0, ax1, ax2 = axes[0]
    for name, (steps, d) in drift.items():
        ax0.plot(steps, np.maximum(d, 1e-12), label=name)
    for name, nu in final.items():
        ax1.hist(nu, bins=40, range=(-1, 1), histtype="step", label=name)
    ax0.set_yscale("log")
    ax0.set(xlabel="optimiser step", ylabel="median |Δ_j(t) − Δ_j(0)| / ‖S_jθ₀‖²",
            title="imbalance drift (median over all paired units)")
    ax1.set(xlabel="Δ_j / ‖S_jθ‖² at the end", ylabel="units", title="final normalised imbalance")
    ax2.bar(range(len(hoyer)), list(hoyer.values()))
    ax2.set_xticks(range(len(hoyer)), list(hoyer), rotation=30, ha="right", fontsize=8)
    ax2.set(ylabel="Hoyer (mean over layers)", title="activity sparsity")
    for ax in (ax0, ax1):
        ax.legend(fontsize=7)
    return save(fig, path)
