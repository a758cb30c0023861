"""Smoke tests of the FF figures: every function writes a readable PNG of plausible size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from implicitbias.analysis import figures as F


def _ok(p: Path, min_w: int = 200) -> None:
    with Image.open(p) as im:
        assert im.format == "PNG" and im.size[0] >= min_w and im.size[1] >= 150
        arr = np.asarray(im.convert("L"))
        assert arr.std() > 1.0  # not a blank canvas


def test_all_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = np.abs(rng.normal(size=(300, 40)))
    _ok(F.wall_plot(x, y, tmp_path / "wall.png", class_names=["a", "b", "c"], max_rows=100))
    bars = {"ff": rng.random((2, 3)), "bpff": rng.random((2, 3)), "bp": rng.random((2, 3))}
    _ok(F.class_sparsity_bars(bars, tmp_path / "bars.png", errors={m: 0.05 * np.ones((2, 3)) for m in bars}))
    _ok(F.overlap_heatmap(np.array([[5, 1, 0], [1, 4, 2], [0, 2, 6]]), tmp_path / "ov.png"))
    members = rng.random((3, 40)) > 0.9
    _ok(F.class_mean_profiles(rng.random((3, 40)), members, tmp_path / "prof.png"))
    pts = [("ff", 0.8, 0.9), ("bp", 0.4, 0.97), ("bpff", 0.9, 0.95), ("ff", 0.82, 0.91)]
    _ok(F.sparsity_vs_accuracy(pts, tmp_path / "scatter.png"))
