"""Oracles for selectivity and ensemble rules: loops, hand cases, scipy references, planted units."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from implicitbias.analysis import (
    benjamini_hochberg,
    class_means,
    ensemble_sizes,
    ensembles_loo,
    ensembles_quantile,
    ensembles_test,
    jaccard_matrix,
    mixed_selectivity,
    one_vs_rest_selectivity,
    overlap_counts,
    selectivity_index,
    specificity_stats,
)


def planted(n_per: int = 60, k: int = 4, h: int = 40, seed: int = 0):
    """Classes c fire units 5c..5c+4 strongly; units 30, 31 fire for classes 0 and 1."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    x = np.abs(rng.normal(0.0, 0.1, size=(y.size, h)))
    for c in range(k):
        x[y == c, 5 * c : 5 * c + 5] += 2.0 + rng.random((n_per, 5))
    x[(y == 0) | (y == 1), 30:32] += 2.0
    return x, y


def test_class_means_loop() -> None:
    x, y = planted()
    m = class_means(x, y, num_classes=5)
    for c in range(4):
        np.testing.assert_allclose(m[c], x[y == c].mean(0))
    assert np.isnan(m[4]).all()


def test_selectivity_index_hand() -> None:
    m = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    si = selectivity_index(m)
    assert si[0] == pytest.approx(1.0)
    assert si[1] == pytest.approx(0.0)
    assert math.isnan(si[2])
    ovr = one_vs_rest_selectivity(m)
    assert ovr[0, 0] == pytest.approx(1.0) and ovr[1, 0] == pytest.approx(-1.0)


def test_loo_rule_matches_loop() -> None:
    rng = np.random.default_rng(4)
    m = rng.exponential(size=(3, 12)) ** 3
    for k in (1.0, 2.0):
        e = ensembles_loo(m, k)
        for c in range(3):
            for j in range(12):
                others = np.delete(m[c], j).mean()
                assert e[c, j] == ((m[c, j] - others) / others > k)


def test_loo_rule_recovers_planted_and_mixed() -> None:
    x, y = planted()
    e = ensembles_loo(class_means(x, y), k=1.0)
    for c in range(4):
        expect = set(range(5 * c, 5 * c + 5)) | ({30, 31} if c < 2 else set())
        assert set(np.nonzero(e[c])[0]) == expect
    ms = mixed_selectivity(e)
    assert ms == {"n_units_in_any": 22, "n_mixed": 2, "n_max": 2}
    np.testing.assert_array_equal(ensemble_sizes(e), [7, 7, 5, 5])
    ov = overlap_counts(e)
    assert ov[0, 1] == 2 and ov[0, 2] == 0 and ov[2, 3] == 0 and ov[1, 1] == 7
    jac = jaccard_matrix(e)
    assert jac[0, 1] == pytest.approx(2 / 12)
    sp = specificity_stats(e)
    assert sp["exclusive_frac"] == pytest.approx(20 / 22)


def test_quantile_rule_loop() -> None:
    x, y = planted(seed=5)
    e = ensembles_quantile(x, y, q=0.9)
    for c in range(4):
        xc = x[y == c]
        thr = np.quantile(xc.ravel(), 0.9)
        np.testing.assert_array_equal(e[c], np.median(xc, axis=0) > thr)
    assert e[2, 10:15].all() and not e[2, :5].any()


def test_benjamini_hochberg_hand_and_scipy() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.005])
    # sorted 0.005 .01 .03 .04 .2 vs 0.01 .02 .03 .04 .05 -> largest i with p<=: i=4 (0.04)
    np.testing.assert_array_equal(benjamini_hochberg(p, 0.05), [True, True, True, False, True])
    rng = np.random.default_rng(6)
    q = np.concatenate([rng.random(200), rng.random(30) * 1e-3])
    adj = stats.false_discovery_control(q, method="bh")
    np.testing.assert_array_equal(benjamini_hochberg(q, 0.1), adj <= 0.1)
    with_nan = np.array([np.nan, 0.001, 0.9])
    np.testing.assert_array_equal(benjamini_hochberg(with_nan), [False, True, False])


def test_ensembles_test_planted_and_pvalues() -> None:
    x, y = planted(n_per=40, seed=7)
    e, p = ensembles_test(x, y, alpha=0.01, min_score=0.5)
    for c in range(4):
        assert set(range(5 * c, 5 * c + 5)) <= set(np.nonzero(e[c])[0])
        assert not e[c, 32:].any()
    # p-values equal scipy's per-unit test
    ref = stats.mannwhitneyu(x[y == 2, 11], x[y != 2, 11], alternative="greater", method="asymptotic")
    assert p[2, 11] == pytest.approx(ref.pvalue)
    # no structure -> nothing survives FDR + effect size
    rng = np.random.default_rng(8)
    e0, _ = ensembles_test(np.abs(rng.normal(size=(160, 30))), np.repeat(np.arange(4), 40))
    assert not e0.any()
