"""Across-seed intervals and per-run statistics of ``ff_representations`` against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from implicitbias.experiments.ff.statistics import interval95, mean_ci, paired, zero_shot_row


@pytest.mark.parametrize("n", [2, 3, 5, 30])
def test_interval95_matches_scipy_t_interval(n: int) -> None:
    v = np.random.default_rng(n).normal(0.3, 0.1, n)
    m, lo, hi = interval95(v)
    ref = stats.t.interval(0.95, n - 1, loc=v.mean(), scale=stats.sem(v))
    assert m == pytest.approx(v.mean()) and (lo, hi) == pytest.approx(ref)


def test_interval95_drops_nan_and_handles_one_value() -> None:
    assert interval95([0.5]) == (0.5, 0.5, 0.5)
    m, lo, hi = interval95([0.2, np.nan, 0.4])
    assert (m, lo, hi) == pytest.approx(interval95([0.2, 0.4]))
    assert all(np.isnan(x) for x in interval95([np.nan]))
    assert mean_ci([np.nan]) == "nan"
    assert mean_ci([0.1, 0.3], "{:.2f}").startswith("0.20 [") and mean_ci([0.1, 0.3]).endswith("(n=2)")


def test_paired_uses_common_seeds() -> None:
    assert paired([3.0, 2.0, 1.0], [1.0, 1.0]).tolist() == [2.0, 1.0]


def test_zero_shot_row_on_a_planted_ensemble() -> None:
    """Class 2 drives units 8-11 only: its ensemble is non-empty, consistent and distinct."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 200)
    x = np.zeros((600, 12))
    for c in range(3):
        x[y == c, 4 * c : 4 * c + 4] = 1.0 + rng.random((200, 4))
    row = zero_shot_row(x, y, 2, 1.0, 0)
    assert row["zs_forms"] == 1.0 and row["zs_split_half"] == 1.0 and row["zs_max_jaccard"] == 0.0
    x[y == 2, :4] = x[y == 0, :4]  # class 2 now also drives class 0's units
    x[y == 2, 8:] = 0.0
    assert zero_shot_row(x, y, 2, 1.0, 0)["zs_forms"] == 0.0
