"""Oracles for unit matching, stability, label controls, zero-shot and inhibition helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from implicitbias.analysis import (
    class_means,
    drive_decomposition,
    drive_summary,
    ensemble_stability_seeds,
    label_controls,
    match_units,
    nearest_ensemble_predict,
    shuffled_label_null,
    split_half_stability,
    weight_sign_stats,
    zero_shot_forms,
    zero_shot_stats,
)


def planted(n_per: int = 80, k: int = 4, h: int = 32, seed: int = 0, shared: bool = True):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per)
    x = np.abs(rng.normal(0.0, 0.1, size=(y.size, h)))
    for c in range(k):
        x[y == c, 4 * c : 4 * c + 4] += 2.0 + rng.random((n_per, 4))
    return x, y


def test_match_units_recovers_permutation_and_bruteforce() -> None:
    x, y = planted()
    m = class_means(x, y)
    perm = np.random.default_rng(1).permutation(m.shape[1])
    mb = 1.7 * m[:, perm]  # run B = run A with shuffled, rescaled units
    got = match_units(m, mb)
    # the matched B-unit carries the same profile as the A-unit
    np.testing.assert_allclose(mb[:, got] / 1.7, m)
    st = ensemble_stability_seeds(m, mb)
    assert st["mean_jaccard"] == pytest.approx(1.0)
    # brute force on a tiny problem
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 5)), rng.random((3, 5))
    an, bn = a / np.linalg.norm(a, axis=0), b / np.linalg.norm(b, axis=0)
    best = min(itertools.permutations(range(5)), key=lambda p: sum(1 - an[:, j] @ bn[:, p[j]] for j in range(5)))
    np.testing.assert_array_equal(match_units(a, b), best)


def test_split_half_stability_signal_vs_noise() -> None:
    x, y = planted(seed=3)
    assert split_half_stability(x, y)["mean_jaccard"] == pytest.approx(1.0)
    rng = np.random.default_rng(4)
    noise = rng.exponential(size=(400, 200)) ** 4
    assert split_half_stability(noise, np.repeat(np.arange(4), 100))["mean_jaccard"] < 0.7


def test_label_controls_image_vs_label_driven() -> None:
    x, y = planted(seed=5)
    rng = np.random.default_rng(6)
    # "neutral": same image-driven units, different noise -> same ensembles
    neutral = x + np.abs(rng.normal(0, 0.05, size=x.shape))
    # "label-driven": units follow a random fake label, not the image class
    fake = rng.integers(0, 4, size=y.size)
    labeldriven = np.abs(rng.normal(0.0, 0.1, size=x.shape))
    for c in range(4):
        labeldriven[fake == c, 16 + 4 * c : 20 + 4 * c] += 2.5
    out = label_controls({"true": x, "neutral": neutral, "wrong": labeldriven}, y)
    assert out["true"]["mean_jaccard_vs_reference"] == pytest.approx(1.0)
    assert out["neutral"]["mean_jaccard_vs_reference"] == pytest.approx(1.0)
    assert out["wrong"]["mean_jaccard_vs_reference"] == pytest.approx(0.0)
    assert out["true"]["exclusive_frac"] == pytest.approx(1.0)
    null = shuffled_label_null(x, y)
    assert out["true"]["split_half_jaccard"] == pytest.approx(1.0)
    assert out["true"]["ensemble_si"] > 0.8
    assert null["split_half_jaccard"] < 0.5 and null["ensemble_si"] < 0.4
    # a unit active for every class is found by every shuffled "class": shared, not exclusive
    x_common = np.hstack([x, np.full((x.shape[0], 1), 20.0)])
    null2 = shuffled_label_null(x_common, y)
    assert null2["exclusive_frac"] < 0.5 and null2["mean_offdiag_jaccard"] > 0.5


def test_zero_shot_stats_planted_unseen() -> None:
    x, y = planted(k=5, seed=7)
    st = zero_shot_stats(x, y, unseen=4)
    assert st["size"] == 4 and st["split_half_jaccard"] == pytest.approx(1.0)
    assert st["max_jaccard_seen"] == pytest.approx(0.0)
    assert st["nearest_ensemble_recall"] == pytest.approx(1.0)
    assert zero_shot_forms(st)
    # unseen class with no units of its own: "ensemble" = noise, not consistent / not distinct
    x2 = x.copy()
    x2[y == 4, 16:20] = np.abs(np.random.default_rng(8).normal(0, 0.1, size=(80, 4)))
    x2[y == 4, 0:4] += 2.0
    assert not zero_shot_forms(zero_shot_stats(x2, y, unseen=4))
    pred = nearest_ensemble_predict(np.array([[0, 5.0, 0], [1.0, 0, 0]]), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]]))
    np.testing.assert_array_equal(pred, [1, 0])


def test_drive_decomposition_loop_and_identity() -> None:
    rng = np.random.default_rng(9)
    x, w, b = rng.normal(size=(6, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    e, i = drive_decomposition(x, w)
    for n in range(6):
        for j in range(4):
            terms = w[j] * x[n]
            assert e[n, j] == pytest.approx(terms[terms > 0].sum())
            assert i[n, j] == pytest.approx(-terms[terms < 0].sum())
    np.testing.assert_allclose(e - i + b, x @ w.T + b)
    members = np.zeros((2, 4), dtype=bool)
    members[0, 0] = members[1, 1] = True
    y = np.array([0, 1, 0, 1, 0, 1])
    s = drive_summary(x, w, b, y, members)
    z = x @ w.T + b
    assert s["silent_frac"] == pytest.approx((z <= 0).mean())
    assert s["in_ensemble"]["n_pairs"] == 6
    assert s["silenced_by_bias_frac"] + s["silenced_by_inhibition_frac"] == pytest.approx(1.0)


def test_weight_sign_stats_hand() -> None:
    w = np.array([[1.0, -2.0], [3.0, 4.0]])
    st = weight_sign_stats(w, np.array([-1.0, 0.5]))
    assert st["neg_weight_frac"] == pytest.approx(0.25)
    assert st["mean_pos_weight"] == pytest.approx(8 / 3)
    assert st["mean_neg_weight"] == pytest.approx(2.0)
    assert st["neg_to_pos_mass"] == pytest.approx(2 / 8)
    assert st["neg_bias_frac"] == pytest.approx(0.5)
    assert st["mean_bias"] == pytest.approx(-0.25)
