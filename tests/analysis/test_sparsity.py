"""Oracles for sparsity metrics: hand-computed cases, loops, closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from implicitbias.analysis import (
    active_fraction,
    dead_unit_fraction,
    gini,
    hoyer,
    hoyer_per_class,
    hoyer_per_sample,
    hoyer_per_unit,
    hoyer_summary,
)


def test_hoyer_hand_cases() -> None:
    n = 4
    # one-hot -> 1, constant -> 0, two equal entries -> (2 - sqrt2)/(2 - 1) with n=4
    x = np.array([[0, 0, 3, 0], [1, 1, 1, 1], [2, 2, 0, 0]], dtype=float)
    h = hoyer_per_sample(x)
    assert h[0] == pytest.approx(1.0)
    assert h[1] == pytest.approx(0.0)
    assert h[2] == pytest.approx((math.sqrt(n) - math.sqrt(2)) / (math.sqrt(n) - 1))


def test_hoyer_matches_loop_and_scale_invariant() -> None:
    rng = np.random.default_rng(1)
    x = np.maximum(rng.normal(size=(20, 7)), 0)
    x[3] = 0.0
    loop = []
    for row in x:
        l1, l2 = np.abs(row).sum(), math.sqrt((row**2).sum())
        loop.append(float("nan") if l2 == 0 else (math.sqrt(7) - l1 / l2) / (math.sqrt(7) - 1))
    np.testing.assert_allclose(hoyer_per_sample(x), loop, equal_nan=True)
    np.testing.assert_allclose(hoyer_per_sample(5.0 * x), hoyer_per_sample(x), equal_nan=True)
    # lifetime = population of the transpose
    np.testing.assert_allclose(hoyer_per_unit(x), hoyer_per_sample(x.T), equal_nan=True)
    # torch input (float16 too) gives the same numbers
    np.testing.assert_allclose(hoyer(torch.tensor(x, dtype=torch.float32)), loop, rtol=1e-6, equal_nan=True)


def test_hoyer_summary_counts_zero_rows() -> None:
    x = np.array([[0, 0, 1.0], [0, 0, 0], [1.0, 1, 1], [0, 0, 0]])
    s = hoyer_summary(x)
    assert s.n == 4 and s.n_zero == 2
    assert s.mean == pytest.approx(0.5)


def test_hoyer_per_class_equals_subset_and_minibatch() -> None:
    rng = np.random.default_rng(2)
    x = np.maximum(rng.normal(size=(60, 9)) - 0.5, 0)
    y = rng.integers(0, 3, size=60)
    per = hoyer_per_class(x, y, num_classes=4)
    for c in range(3):
        h = hoyer_per_sample(x[y == c])
        assert per[c].mean == pytest.approx(np.nanmean(h))
        assert per[c].n == int((y == c).sum())
    assert per[3].n == 0 and math.isnan(per[3].mean)
    # minibatch == full batch: per-sample values do not depend on the batch they came in
    chunks = np.concatenate([hoyer_per_sample(x[s : s + 7]) for s in range(0, 60, 7)])
    np.testing.assert_allclose(chunks, hoyer_per_sample(x), equal_nan=True)


def test_active_and_dead_fraction() -> None:
    x = np.array([[0.0, 0.2, 3.0, 0.0], [0.0, 0.0, 0.05, 0.0]])
    np.testing.assert_allclose(active_fraction(x), [0.5, 0.25])
    np.testing.assert_allclose(active_fraction(x, tau=0.1), [0.5, 0.0])
    assert dead_unit_fraction(x) == pytest.approx(0.5)
    assert dead_unit_fraction(x, tau=0.1) == pytest.approx(0.5)
    assert dead_unit_fraction(x, tau=5.0) == pytest.approx(1.0)


def test_gini_against_pairwise_sum() -> None:
    rng = np.random.default_rng(3)
    x = rng.exponential(size=(5, 11))
    oracle = [np.abs(r[:, None] - r[None, :]).sum() / (2 * r.size * r.sum()) for r in x]
    np.testing.assert_allclose(gini(x), oracle)
    assert gini(np.array([0, 0, 0, 2.0])) == pytest.approx(1 - 1 / 4)
    assert gini(np.ones(6)) == pytest.approx(0.0)
    assert math.isnan(float(gini(np.zeros(3))))
    with pytest.raises(ValueError):
        gini(np.array([1.0, -1.0]))
