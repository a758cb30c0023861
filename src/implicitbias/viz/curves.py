"""Training curves and recoveries in the style of the symmetry-bias paper (v2 Figs. 2-6).

Seed bands are the 10-90 % quantiles over chains; solid lines are chain 0 ("seed 0").
Every function writes one PNG to ``path`` and returns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from implicitbias.viz.base import band, colormap, new_figure, save

__all__ = ["ratio_curves", "matrix_completion", "spectral", "step_signal", "grouped_bars"]


def _ratio_panel(ax, steps: np.ndarray, ratios: np.ndarray, ylabel: str, balance_label: str, lw: float) -> None:
    """Per-unit norm ratios ``(n_logs, S, k)`` as seed bands on a log axis, balance line at 1."""
    k = ratios.shape[2]
    cmap = colormap("viridis")
    for j in range(k):
        band(ax, steps, ratios[:, :, j], cmap(j / max(1, k - 1)), lw=lw)
    ax.axhline(1.0, color="k", ls="--", lw=1, label=balance_label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)


def ratio_curves(
    steps: np.ndarray, ratios: np.ndarray, path: str | Path, ylabel: str, title: str,
    extra: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Per-unit norm ratios ``ratios (n_logs, S, k)``, one coloured curve + band per unit.

    ``extra`` maps a label to ``(n_logs, S)`` curves drawn in a second panel (e.g. the
    Frobenius and nuclear ratios of attention).
    """
    n_panels = 2 if extra else 1
    fig, axes = new_figure(1, n_panels, figsize=(5.2 * n_panels, 3.6))
    ax = axes[0, 0]
    _ratio_panel(ax, steps, ratios, ylabel, "Theor. balance (ratio: 1)", lw=0.9)
    ax.set_title(f"{title}\n(lines: seed 0; bands: 10-90% over {ratios.shape[1]} seeds)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    if extra:
        ax2 = axes[0, 1]
        for (name, Y), c in zip(extra.items(), ["C0", "C3", "C2"], strict=False):
            band(ax2, steps, Y, c, label=name)
        ax2.axhline(1.0, color="k", ls="--", lw=1)
        ax2.set_xlabel("iteration")
        ax2.set_ylabel("norm ratio Q/K")
        ax2.legend(fontsize=8)
    return save(fig, path)


def matrix_completion(
    steps: np.ndarray, est: np.ndarray, ratios: np.ndarray, targets: tuple[float, ...], path: str | Path
) -> Path:
    """Panel a: "Est." 2σ_i(PQ) and σ_i(PQ), ``est (n_logs, S, 2, r*)`` ([0] = 2σ, [1] = σ).

    Panel b: per-mode ``‖P[:, i]‖ / ‖Q[i, :]‖``, ``ratios (n_logs, S, r)``.
    """
    fig, axes = new_figure(1, 2, figsize=(10.4, 3.6))
    a, b = axes[0]
    for i in range(est.shape[3]):
        band(a, steps, est[:, :, 0, i], f"C{i}", label=rf"Est. $2\sigma_{i + 1}$ (paper's plot)")
        band(a, steps, est[:, :, 1, i], f"C{i}", label=rf"$\sigma_{i + 1}(PQ)$", lw=0.6)
        a.axhline(targets[i], color=f"C{i}", ls="--", lw=1, label=rf"Theor. $\sigma^*_{i + 1}$ = {targets[i]:g}")
    a.set_xlabel("iteration")
    a.set_ylabel("singular value")
    a.legend(fontsize=7)
    a.set_title("Matrix completion: recovered spectrum", fontsize=9)
    _ratio_panel(b, steps, ratios, r"$\|U_j\| / \|V_j\|$", "balance", lw=0.8)
    b.legend(fontsize=8)
    return save(fig, path)


def spectral(
    w_true: np.ndarray, ws: Mapping[str, np.ndarray], t: np.ndarray, feats: np.ndarray, path: str | Path
) -> Path:
    """Panel a: amplitude vs frequency (stems, seed 0). Panel b: the fitted functions.

    ``w_true (S, n)``, ``ws[name] (S, n)``, ``t (m,)``, ``feats (m, n)`` on the plot grid.
    """
    fig, axes = new_figure(1, 2, figsize=(10.4, 3.6))
    a, b = axes[0]
    k = np.arange(w_true.shape[1])
    nz = np.nonzero(w_true[0])[0]
    a.stem(nz, w_true[0][nz], linefmt="k-", markerfmt="ko", basefmt=" ", label="True")
    a.axhline(0.0, color="k", lw=0.5)
    offs = np.linspace(-0.25, 0.25, len(ws))
    for (name, w), c, o in zip(ws.items(), ["C1", "C2", "C0"], offs, strict=False):
        a.stem(k + o, w[0], linefmt=f"{c}-", markerfmt=f"{c}.", basefmt=" ", label=name)
    a.set_xlabel("frequency k")
    a.set_ylabel("amplitude (seed 0)")
    a.legend(fontsize=8)
    b.plot(t, feats @ w_true[0], "k-", lw=1.5, label="True")
    for (name, w), c in zip(ws.items(), ["C1", "C2", "C0"], strict=False):
        b.plot(t, (feats @ w.T)[:, 0], color=c, lw=1, label=name)
    b.set_xlabel("t")
    b.set_ylabel("f(t) (seed 0)")
    b.legend(fontsize=8)
    return save(fig, path)


def step_signal(signal: np.ndarray, recs: Mapping[str, np.ndarray], path: str | Path) -> Path:
    """A true signal ``(n,)`` vs reconstructions ``recs[name] (S, n)`` (seed 0 + band)."""
    fig, axes = new_figure(figsize=(6.4, 3.6))
    ax = axes[0, 0]
    t = np.arange(signal.shape[0])
    ax.plot(t, signal, "k-", lw=2, label="True")
    for (name, w), c in zip(recs.items(), ["C1", "C0", "C2"], strict=False):
        band(ax, t, np.asarray(w).T, c, label=name)
    ax.set_xlabel("t")
    ax.set_ylabel("signal")
    ax.legend(fontsize=8)
    return save(fig, path)


def grouped_bars(table: Mapping[str, Mapping[str, np.ndarray]], ylabel: str, path: str | Path,
                 log: bool = True) -> Path:
    """Bars of per-seed values ``table[group][member]``: median with 10-90 % whiskers."""
    rows = list(table)
    cols = list(next(iter(table.values())))
    fig, axes = new_figure(figsize=(6.4, 3.6))
    ax = axes[0, 0]
    width = 0.8 / len(cols)
    for j, c in enumerate(cols):
        vals = [np.asarray(table[r][c], float) for r in rows]
        med = np.array([np.median(v) for v in vals])
        lo = med - np.array([np.quantile(v, 0.1) for v in vals])
        hi = np.array([np.quantile(v, 0.9) for v in vals]) - med
        ax.bar(np.arange(len(rows)) + j * width, med, width, yerr=[lo, hi], label=c, capsize=2)
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, rows, fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return save(fig, path)
