"""Figures of the theory diagnostics: sampled vs predicted densities, decay curves, scans.

The primitives take already-reduced arrays (histogram counts, curves on a grid), so an
experiment stores only those in its run directory and a figure can be redrawn from it.

* :func:`density_panels` — per panel: sample histograms (as step densities) and predicted
  densities on a grid;
* :func:`line_panels` — per panel: named curves ``y(x)`` (log axes optional);
* :func:`errorbar_panels` — mean ± sd series against one shared x;
* :func:`log_bars` — named groups of positive numbers on a log axis with a tolerance line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from implicitbias.viz.base import new_figure, save

__all__ = ["Histogram", "DensityPanel", "LinePanel", "density_panels", "line_panels", "errorbar_panels", "log_bars"]


@dataclass(frozen=True)
class Histogram:
    """Binned samples: ``edges (b + 1,)`` and ``counts (b,)``; drawn as a density per unit x."""

    edges: np.ndarray
    counts: np.ndarray
    label: str = "simulated"
    filled: bool = True

    def density(self) -> np.ndarray:
        """``counts / (Σ counts · Δx)`` (zeros when empty)."""
        c = np.asarray(self.counts, dtype=float)
        w = np.diff(np.asarray(self.edges, dtype=float))
        tot = c.sum()
        return c / (tot * w) if tot > 0 else np.zeros_like(c)

    @classmethod
    def of(cls, samples: np.ndarray, lo: float, hi: float, bins: int = 80, **kw: object) -> Histogram:
        """Histogram of ``samples`` on ``[lo, hi]`` (samples outside are dropped)."""
        counts, edges = np.histogram(np.asarray(samples, dtype=float).ravel(), bins=bins, range=(lo, hi))
        return cls(edges, counts, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DensityPanel:
    """One panel: histograms of samples and predicted densities ``label -> (x, pdf)``."""

    title: str
    histograms: Sequence[Histogram] = ()
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    dashed: Sequence[str] = ()


def density_panels(panels: Sequence[DensityPanel], path: str | Path, xlabel: str,
                   xlim: tuple[float, float] | None = None, width: float = 4.2) -> Path:
    """A row of density panels; curves named in ``dashed`` are drawn dashed black."""
    fig, axes = new_figure(1, len(panels), figsize=(width * len(panels), 3.3))
    for ax, p in zip(axes[0], panels, strict=True):
        for h in p.histograms:
            d = h.density()
            if h.filled:
                ax.stairs(d, h.edges, fill=True, color="0.8", label=h.label)
            else:
                ax.stairs(d, h.edges, label=h.label)
        for name, (x, pdf) in p.curves.items():
            if name in p.dashed:
                ax.plot(x, pdf, "k--", lw=1.2, label=name)
            else:
                ax.plot(x, pdf, lw=1, label=name)
        ax.set_title(p.title, fontsize=9)
        ax.set_xlabel(xlabel)
        if xlim:
            ax.set_xlim(*xlim)
        ax.legend(fontsize=6)
    return save(fig, path)


@dataclass(frozen=True)
class LinePanel:
    """One panel of curves ``label -> (x, y)``; unlabeled curves use ``""``-prefixed keys."""

    title: str
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]]
    logy: bool = False
    xlabel: str = "step"
    legend: bool = True
    lw: float = 1.0


def line_panels(panels: Sequence[LinePanel], path: str | Path, width: float = 4.3) -> Path:
    """A row of line panels."""
    fig, axes = new_figure(1, len(panels), figsize=(width * len(panels), 3.4))
    for ax, p in zip(axes[0], panels, strict=True):
        for name, (x, y) in p.curves.items():
            ax.plot(x, y, lw=p.lw, label=None if name.startswith("_") else name)
        if p.logy:
            ax.set_yscale("log")
        ax.set_title(p.title, fontsize=9)
        ax.set_xlabel(p.xlabel)
        if p.legend and any(not k.startswith("_") for k in p.curves):
            ax.legend(fontsize=7)
    return save(fig, path)


def errorbar_panels(x: Sequence[float], series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                    path: str | Path, xlabel: str, title: str = "", logx: bool = True) -> Path:
    """One panel per ``ylabel -> (mean, sd)`` series against the shared ``x``."""
    fig, axes = new_figure(1, len(series), figsize=(4.5 * len(series), 3.3))
    for ax, (ylabel, (m, s)) in zip(axes[0], series.items(), strict=True):
        ax.errorbar(list(x), list(m), list(s), marker="o")
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        if logx:
            ax.set_xscale("log")
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, path)


def log_bars(names: Sequence[str], groups: Mapping[str, Sequence[float]], path: str | Path,
             ylabel: str, title: str, tolerance: float | None = None, floor: float = 1e-18) -> Path:
    """Side-by-side bars of ``groups[label][i]`` for each name ``i`` on a log axis."""
    fig, axes = new_figure(figsize=(8, 3.6))
    ax = axes[0, 0]
    x = np.arange(len(names))
    width = 0.8 / max(len(groups), 1)
    for j, (label, vals) in enumerate(groups.items()):
        off = (j - (len(groups) - 1) / 2) * width
        ax.bar(x + off, [max(float(v), floor) for v in vals], width, label=label)
    if tolerance is not None:
        ax.axhline(tolerance, color="k", ls="--", lw=0.8, label=f"tolerance {tolerance:g}")
    ax.set_yscale("log")
    ax.set_xticks(x, list(names), rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save(fig, path)
