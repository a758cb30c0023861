"""Figures for the five paper experiments, in the style of v2 Figs. 2-6, with seed bands.

Each function takes plain NumPy arrays (as saved in the run directory) and a path, so the
figures can be redrawn from ``arrays.safetensors`` (see
:mod:`implicitbias.report.paper1_figures`). Seed bands are the 10-90 % quantiles over
chains; solid lines are chain 0 ("seed 0") unless stated.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "plot_ratio_curves",
    "plot_matrix_completion",
    "plot_spectral",
    "plot_tv",
    "plot_ablation",
]


def _band(ax, x: np.ndarray, Y: np.ndarray, color, label: str | None = None, lw: float = 1.0):
    """Chain-0 line plus a 10-90 % band over chains; ``Y (n_x, S)``."""
    lo, hi = np.nanquantile(Y, 0.1, axis=1), np.nanquantile(Y, 0.9, axis=1)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
    ax.plot(x, Y[:, 0], color=color, lw=lw, label=label)


def plot_ratio_curves(
    steps: np.ndarray, ratios: np.ndarray, path: Path, ylabel: str, title: str,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Per-unit norm ratios: ``ratios (n_logs, S, k)``; one coloured curve+band per unit.

    ``extra`` maps a label to ``(n_logs, S)`` curves drawn in black/grey (e.g. Frobenius).
    """
    n_panels = 2 if extra else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(5.2 * n_panels, 3.6), squeeze=False)
    ax = axes[0, 0]
    _ratio_panel(ax, steps, ratios, ylabel, "Theor. balance (ratio: 1)", lw=0.9)
    ax.set_title(f"{title}\n(lines: seed 0; bands: 10-90% over {ratios.shape[1]} seeds)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    if extra:
        ax2 = axes[0, 1]
        for (name, Y), c in zip(extra.items(), ["C0", "C3", "C2"], strict=False):
            _band(ax2, steps, Y, c, label=name)
        ax2.axhline(1.0, color="k", ls="--", lw=1)
        ax2.set_xlabel("iteration")
        ax2.set_ylabel("norm ratio Q/K")
        ax2.legend(fontsize=8)
    _save(fig, path)




def _save(fig, path: Path) -> None:
    """Lay out, write ``path`` (PNG, 130 dpi) and close ``fig``."""
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)

def _ratio_panel(ax, steps: np.ndarray, ratios: np.ndarray, ylabel: str, balance_label: str, lw: float) -> None:
    """Per-unit norm ratios ``(n_logs, S, k)`` as seed bands on a log axis, with the balance line at 1."""
    k = ratios.shape[2]
    cmap = plt.get_cmap("viridis")
    for j in range(k):
        _band(ax, steps, ratios[:, :, j], cmap(j / max(1, k - 1)), lw=lw)
    ax.axhline(1.0, color="k", ls="--", lw=1, label=balance_label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)

def plot_matrix_completion(
    steps: np.ndarray, est: np.ndarray, ratios: np.ndarray, targets: tuple[float, ...], path: Path
) -> None:
    """Panel a: "Est." 2σ_i(PQ) and σ_i(PQ), ``est (n_logs, S, 2, r*)`` [0]=2σ, [1]=σ.
    Panel b: per-mode ‖P[:, i]‖/‖Q[i, :]‖, ``ratios (n_logs, S, r)``."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.4, 3.6))
    for i in range(est.shape[3]):
        _band(a, steps, est[:, :, 0, i], f"C{i}", label=rf"Est. $2\sigma_{i + 1}$ (paper's plot)")
        _band(a, steps, est[:, :, 1, i], f"C{i}", label=rf"$\sigma_{i + 1}(PQ)$", lw=0.6)
        a.axhline(targets[i], color=f"C{i}", ls="--", lw=1, label=rf"Theor. $\sigma^*_{i + 1}$ = {targets[i]:g}")
    a.set_xlabel("iteration")
    a.set_ylabel("singular value")
    a.legend(fontsize=7)
    a.set_title("Matrix completion: recovered spectrum", fontsize=9)
    _ratio_panel(b, steps, ratios, r"$\|U_j\| / \|V_j\|$", "balance", lw=0.8)
    b.legend(fontsize=8)
    _save(fig, path)


def plot_spectral(
    w_true: np.ndarray, ws: dict[str, np.ndarray], t: np.ndarray, feats: np.ndarray, path: Path
) -> None:
    """Panel a: amplitude vs frequency (stems, seed 0). Panel b: function fit with bands.

    ``w_true (S, n)``, ``ws[name] (S, n)``, ``t (m,)``, ``feats (m, n)`` on the plot grid.
    """
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.4, 3.6))
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
        Y = feats @ w.T  # (m, S)
        b.plot(t, Y[:, 0], color=c, lw=1, label=name)
    b.set_xlabel("t")
    b.set_ylabel("f(t) (seed 0)")
    b.legend(fontsize=8)
    _save(fig, path)


def plot_tv(signal: np.ndarray, recs: dict[str, np.ndarray], path: Path) -> None:
    """True step signal vs reconstructions ``recs[name] (S, n)`` (seed 0 + 10-90 % band)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    t = np.arange(signal.shape[0])
    ax.plot(t, signal, "k-", lw=2, label="True")
    for (name, w), c in zip(recs.items(), ["C1", "C0", "C2"], strict=False):
        _band(ax, t, w.T, c, label=name)
    ax.set_xlabel("t")
    ax.set_ylabel("signal")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_ablation(table: dict[str, dict[str, np.ndarray]], metric: str, path: Path) -> None:
    """Bar chart: ``table[row][col]`` per-seed values of ``metric`` (median, 10-90 % bars)."""
    rows = list(table)
    cols = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / len(cols)
    for j, c in enumerate(cols):
        vals = [np.asarray(table[r][c], float) for r in rows]
        med = [np.median(v) for v in vals]
        lo = [m - np.quantile(v, 0.1) for m, v in zip(med, vals, strict=True)]
        hi = [np.quantile(v, 0.9) - m for m, v in zip(med, vals, strict=True)]
        ax.bar(np.arange(len(rows)) + j * width, med, width, yerr=[lo, hi], label=c, capsize=2)
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2, rows, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    _save(fig, path)
