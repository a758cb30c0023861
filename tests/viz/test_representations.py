"""FF figures: every function writes a readable PNG; the wall plot groups units by preferred class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from implicitbias.viz import representations as F


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


def test_unit_order_groups_units_by_preferred_class_loop_oracle() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=500)
    x = np.abs(rng.normal(size=(500, 30)))
    x[:, 7] = 0.0  # a silent unit goes last
    order, pref = F.unit_order(x, y, 4)
    assert sorted(order.tolist()) == list(range(30)) and order[-1] == 7 and pref[-1] == -1
    # oracle: class means and argmax by explicit loops
    for col, p in zip(order[:-1], pref[:-1], strict=True):
        means = [x[y == c, col].mean() for c in range(4)]
        assert p == int(np.argmax(means))
    assert np.all(np.diff(pref[:-1]) >= 0)  # contiguous blocks, class 0 first
    for c in range(4):  # within a block: decreasing class-mean activation
        cols = order[pref == c]
        peaks = [x[y == c, j].mean() for j in cols]
        assert peaks == sorted(peaks, reverse=True)


def test_figures_leave_the_matplotlib_backend_alone(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import matplotlib, numpy as np\n"
        "import implicitbias.viz.representations as F, implicitbias.viz.curves, implicitbias.viz.diagnostics\n"
        "F.overlap_heatmap(np.eye(3, dtype=int), r'%s')\n"
        "import sys; print('pyplot' in sys.modules, matplotlib.rcParams._get_backend_or_none())\n"
    ) % (tmp_path / "ov.png")
    import os

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "None"]  # pyplot never imported, no backend chosen
    _ok(tmp_path / "ov.png", min_w=100)
