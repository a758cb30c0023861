"""tv_recovery: cumsum features vs an explicit triangular matrix, quick-preset claims."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from implicitbias.data.synthetic import piecewise_constant, total_variation
from implicitbias.experiments.paper1 import tv_recovery as E
from implicitbias.runs import RunDir


def test_cumsum_features_equal_A_times_lower_triangular() -> None:
    A = torch.randn(2, 4, 7, dtype=torch.float64)
    L = torch.tril(torch.ones(7, 7, dtype=torch.float64))
    torch.testing.assert_close(E.cumsum_features(A), A @ L)
    c = torch.randn(2, 7, dtype=torch.float64)
    torch.testing.assert_close((A @ torch.cumsum(c, -1)[..., None])[..., 0], (E.cumsum_features(A) @ c[..., None])[..., 0])


def test_paper_signal_has_tv_six() -> None:
    s = piecewise_constant()
    assert s.shape == (200,) and float(total_variation(s)) == 6.0


def test_quick_preset_designed_beats_vanilla(tmp_path) -> None:
    cfg = E.PRESETS["quick"]
    assert cfg.seeds >= 8
    res = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg))
    m = res.metrics
    ratio = np.array(m["vanilla"]["recon_mse"]) / np.array(m["designed"]["recon_mse"])
    assert ratio[0] >= 5 and np.median(ratio) >= 5
    assert np.median(m["designed"]["tv"]) < np.median(m["vanilla"]["tv"]) / 3
    rd = RunDir.open(tmp_path, E.ID, cfg)
    assert all((rd.path / f).stat().st_size > 1000 for f in E.figures(res, rd))


@pytest.mark.slow
def test_paper_preset(tmp_path) -> None:
    cfg = E.PRESETS["paper"]
    m = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg)).metrics
    assert np.median(np.array(m["vanilla"]["recon_mse"]) / np.array(m["designed"]["recon_mse"])) >= 5
