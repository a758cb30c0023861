"""Oracles for the cross-run comparison helpers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from implicitbias.analysis.ff_compare import (
    cross_seed_stability,
    group_overlap_fraction,
    input_similarity,
    overlap_similarity_rho,
    seed_values,
)


def test_group_overlap_fraction_hand() -> None:
    e = np.zeros((4, 6), dtype=bool)
    e[0, [0, 1]] = e[1, [1, 2]] = e[2, [2, 3]] = e[3, [4]] = True
    # pairs with overlap: (0,1) 1 unit, (1,2) 1 unit -> inside {0,1}: 1 of 2
    assert group_overlap_fraction(e, [0, 1]) == pytest.approx(0.5)
    assert group_overlap_fraction(e, [0, 1, 2]) == pytest.approx(1.0)
    assert np.isnan(group_overlap_fraction(np.eye(3, dtype=bool), [0, 1]))


def test_overlap_similarity_rho_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    e = rng.random((5, 30)) > 0.7
    sim = rng.random((5, 5))
    sim = (sim + sim.T) / 2
    iu = np.triu_indices(5, 1)
    inter = e.astype(int) @ e.T.astype(int)
    union = e.sum(1)[:, None] + e.sum(1)[None] - inter
    ref = stats.spearmanr((inter / union)[iu], sim[iu]).statistic
    assert overlap_similarity_rho(e, sim) == pytest.approx(ref)


def test_input_similarity_hand() -> None:
    # class 0 and 1 images point the same way after centring; class 2 opposite
    x = np.array([[2.0, 0], [2.0, 0], [1.5, 0], [-4.0, 0]])
    y = np.array([0, 0, 1, 2])
    s = input_similarity(x, y)
    assert s[0, 1] == pytest.approx(1.0) and s[0, 2] == pytest.approx(-1.0)
    np.testing.assert_allclose(np.diag(s), 1.0)


def test_seed_values_and_cross_seed() -> None:
    m = np.abs(np.random.default_rng(1).normal(size=(3, 12)))
    m[0, 0] = m[1, 1] = m[2, 2] = 50.0
    res = [{"layers": [{"hoyer": {"mean": 0.5 + i / 10}, "_profile": m[:, np.random.default_rng(i).permutation(12)]}]}
           for i in range(3)]
    np.testing.assert_allclose(seed_values(res, 1, "hoyer", "mean"), [0.5, 0.6, 0.7])
    assert cross_seed_stability(res, 1) == pytest.approx([1.0, 1.0])


def test_layer_table_and_per_class_against_direct_means() -> None:
    from implicitbias.analysis.ff_compare import layer_table, per_class_hoyer

    rng = np.random.default_rng(2)

    def fake(seed: int) -> dict:
        layers = []
        for _ in range(2):
            prof = rng.random((3, 8))
            layers.append({"hoyer": {"mean": rng.random(), "n_zero": 1}, "width": 8, "active_frac": rng.random(),
                           "dead_frac": 0.0, "ensemble_sizes": list(rng.integers(0, 4, 3)), "mixed": {"n_mixed": seed},
                           "twonn_id": 3.0, "_profile": prof, "hoyer_per_class": [rng.random(), None, rng.random()]})
        return {"layers": layers, "test_acc": 0.9 + seed / 100}

    res = {"toy": {"ff": [fake(0), fake(1), fake(2)]}}
    rows = layer_table(res, paper_hoyer={"toy": {"ff": [(0.1, 0.2)]}})
    assert len(rows) == 2 and rows[0]["paper_hoyer_range"] == [0.1, 0.2] and rows[1]["paper_hoyer_range"] is None
    h = [r["layers"][1]["hoyer"]["mean"] for r in res["toy"]["ff"]]
    assert rows[1]["hoyer_mean"] == pytest.approx(np.mean(h)) and rows[1]["hoyer_sd"] == pytest.approx(np.std(h, ddof=1))
    assert rows[0]["hoyer_n_zero_rows"] == 3 and rows[0]["acc_mean"] == pytest.approx(0.91)
    mean, sd = per_class_hoyer(res["toy"], 3)
    assert mean["ff"].shape == (2, 3) and np.isnan(mean["ff"][0, 1])
    assert mean["ff"][1, 2] == pytest.approx(np.mean([r["layers"][1]["hoyer_per_class"][2] for r in res["toy"]["ff"]]))
