"""Oracles for TwoNN and linear CKA: known dimension, Gram-space formulas, invariances."""

from __future__ import annotations

import numpy as np
import pytest

from implicitbias.analysis import LinearCKAAccumulator, cka_matrix, linear_cka, twonn_dimension
from implicitbias.analysis.geometry import hsic_unbiased_gram, twonn_dadapy, twonn_ratios


@pytest.mark.parametrize("d", [2, 5, 8])
def test_twonn_gaussian_embedded(d: int) -> None:
    rng = np.random.default_rng(d)
    big = 30
    q, _ = np.linalg.qr(rng.normal(size=(big, big)))
    x = rng.normal(size=(4000, d)) @ q[:d]  # d-dim Gaussian in R^30, randomly rotated
    assert twonn_dimension(x) == pytest.approx(d, rel=0.1)
    assert twonn_dimension(x, method="mle") == pytest.approx(d, rel=0.1)


def test_twonn_ratios_bruteforce_and_duplicates() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    x = np.vstack([x, x[:2]])  # two duplicates -> r1 = 0 for 4 points
    mu, dropped = twonn_ratios(x, chunk=7)
    assert dropped == 4
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    s = np.sort(d, axis=1)
    ok = s[:, 0] > 0
    np.testing.assert_allclose(mu, s[ok, 1] / s[ok, 0], rtol=1e-9)


def gram_cka(x: np.ndarray, y: np.ndarray) -> float:
    n = x.shape[0]
    h = np.eye(n) - 1.0 / n
    k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float((k * l_).sum() / np.sqrt((k * k).sum() * (l_ * l_).sum()))


def test_cka_biased_and_unbiased_against_gram_oracles() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 6))
    y = np.tanh(x @ rng.normal(size=(6, 9))) + 0.3 * rng.normal(size=(40, 9))
    assert linear_cka(x, y) == pytest.approx(gram_cka(x, y), rel=1e-10)
    k, l_ = x @ x.T, y @ y.T
    ref = hsic_unbiased_gram(k, l_) / np.sqrt(hsic_unbiased_gram(k, k) * hsic_unbiased_gram(l_, l_))
    assert linear_cka(x, y, unbiased=True) == pytest.approx(ref, rel=1e-9)


def test_cka_invariances_and_self() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 10))
    y = x[:, :5] ** 2 + rng.normal(size=(80, 5))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    for unb in (False, True):
        base = linear_cka(x, y, unbiased=unb)
        assert linear_cka(x, x, unbiased=unb) == pytest.approx(1.0)
        assert linear_cka(x @ q, y, unbiased=unb) == pytest.approx(base, rel=1e-9)
        assert linear_cka(3.7 * x, 0.2 * y, unbiased=unb) == pytest.approx(base, rel=1e-9)
        assert linear_cka(y, x, unbiased=unb) == pytest.approx(base, rel=1e-9)
    # unrelated data: biased CKA is positively biased, unbiased is near 0
    a, b = rng.normal(size=(200, 50)), rng.normal(size=(200, 50))
    assert abs(linear_cka(a, b, unbiased=True)) < 0.05 < linear_cka(a, b)


def test_cka_minibatch_equals_full_batch() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(101, 4)), rng.normal(size=(101, 7))
    y[:, :4] += x
    for unb in (False, True):
        full = linear_cka(x, y, unbiased=unb)
        acc = LinearCKAAccumulator()
        bounds = [0, 13, 50, 51, 90, 101]
        for a_, b_ in zip(bounds[:-1], bounds[1:], strict=True):
            acc.update(x[a_:b_], y[a_:b_])
        assert acc.result(unbiased=unb) == pytest.approx(full, rel=1e-10)
    names, m = cka_matrix({"a": x, "b": y, "c": x})
    assert names == ["a", "b", "c"] and m[0, 2] == pytest.approx(1.0) and m[1, 0] == m[0, 1]


def test_twonn_agrees_with_dadapy_when_installed() -> None:
    pytest.importorskip("dadapy", reason="DADApy is the optional 'analysis' extra")
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2000, 6)) @ rng.normal(size=(6, 20))
    ref = twonn_dadapy(x)
    assert ref is not None and twonn_dimension(x) == pytest.approx(ref, rel=0.1)
