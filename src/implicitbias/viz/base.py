"""Figure creation and saving, seed bands and shared colours.

``new_figure`` returns a :class:`matplotlib.figure.Figure` that is not registered with
``pyplot``; :func:`save` writes it through the Agg canvas picked for the file type at save
time. Nothing here calls ``matplotlib.use``, so an interactive session keeps its backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["new_figure", "save", "band", "colormap", "MODEL_COLORS", "MODEL_NAMES", "DPI"]

#: Resolution of every PNG (dots per inch).
DPI = 120

MODEL_COLORS = {"ff": "#1f77b4", "bpff": "#ff7f0e", "bp": "#2ca02c"}
MODEL_NAMES = {"ff": "FF", "bpff": "BP/FF", "bp": "BP"}


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6.4, 3.6),
               squeeze: bool = False, **kw: Any) -> tuple[Figure, Any]:
    """A figure and its ``(nrows, ncols)`` array of axes (``squeeze=False`` by default)."""
    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **kw)
    return fig, axes


def save(fig: Figure, path: str | Path, *, dpi: int = DPI, tight: bool = True) -> Path:
    """Lay out and write ``fig`` to ``path`` (parents created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(p, dpi=dpi, bbox_inches="tight" if tight else None)
    return p


def colormap(name: str = "viridis") -> Any:
    """A registered colormap by name (no ``pyplot``)."""
    import matplotlib

    return matplotlib.colormaps[name]


def band(ax: Any, x: np.ndarray, Y: np.ndarray, color: Any, label: str | None = None, lw: float = 1.0) -> None:
    """Chain-0 line plus the 10-90 % band over chains; ``x (n,)``, ``Y (n, S)``."""
    Y = np.asarray(Y, dtype=float)
    lo, hi = np.nanquantile(Y, 0.1, axis=1), np.nanquantile(Y, 0.9, axis=1)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)
    ax.plot(x, Y[:, 0], color=color, lw=lw, label=label)
