"""noise_init_ablation: balanced init keeps the predictor; the grid runs and reports cells."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from implicitbias.experiments.paper1 import noise_init_ablation as E
from implicitbias.runs import RunDir


def test_balanced_init_same_predictor_zero_moment_map() -> None:
    p, q = torch.randn(3, 10, dtype=torch.float64), torch.randn(3, 10, dtype=torch.float64)
    P, Q = E.balanced_init(p, q)
    torch.testing.assert_close(P * Q, p * q)
    torch.testing.assert_close(P**2 - Q**2, torch.zeros_like(P))


def test_quick_grid_small_init_full_batch_is_sparse(tmp_path) -> None:
    cfg = replace(E.PRESETS["quick"], fourier_steps=12_000, tv_steps=15_000)
    res = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg))
    sp = res.metrics["sparse"]
    assert set(sp) == {"fourier", "tv"} and all(len(v) == 6 for v in sp.values())
    # The paper's own cell (full batch, small init) must give the sparse solution.
    assert sp["fourier"]["full-batch | small init"]
    assert sp["tv"]["full-batch | small init"]
    rd = RunDir.open(tmp_path, E.ID, cfg)
    assert len(res.claims) == 12 and len(E.figures(res, rd)) == 2


@pytest.mark.slow
def test_paper_grid_sparsity_follows_init(tmp_path) -> None:
    # Measured (8 seeds): every small-init cell is sparse, every balanced-large-init cell is
    # dense, whatever the gradient noise — at the paper's step sizes and lengths.
    cfg = E.PRESETS["paper"]
    sp = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg)).metrics["sparse"]
    for pb in ("fourier", "tv"):
        for cell, ok in sp[pb].items():
            assert ok == cell.endswith("| small init"), (pb, cell)
