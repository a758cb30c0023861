"""The figure layer: plot primitives shared by every experiment and the analysis CLI.

Figures are drawn on :class:`matplotlib.figure.Figure` objects and written through their
own canvas, never through ``pyplot``: no backend is ever selected (the user's
``matplotlib`` backend is left alone), no global figure registry fills up, and importing
this package does not import matplotlib. Every primitive takes plain NumPy arrays and a
path, writes one PNG and returns the path.

* :mod:`.base` — figure creation and saving, seed bands, model colours;
* :mod:`.curves` — training curves and recoveries of the paper-1 experiments (v2 Figs. 2-6);
* :mod:`.diagnostics` — the theory diagnostics: sampled vs predicted densities, decay curves;
* :mod:`.representations` — FF representation figures (activation wall, overlaps, profiles).
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("base", "curves", "diagnostics", "representations")

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
