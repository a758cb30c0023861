"""The experiment protocol's declared metrics and the sample-size-honest verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from implicitbias.dynamics import stats as S
from implicitbias.experiments import experiment_ids, get_experiment
from implicitbias.experiments.base import Metric, metric_values
from implicitbias.experiments.verdicts import NoiseFloor, law_verdict, noise_floor, two_sample_floor


def test_ks_critical_matches_the_kolmogorov_quantile_and_monte_carlo():
    # oracle 1: scipy's exact finite-n distribution (kstwo) at large n
    assert S.ks_critical(4000, 0.01) == pytest.approx(sps.kstwo.isf(0.01, 4000), rel=0.01)
    assert S.ks_critical(10_000, 0.05) == pytest.approx(1.358 / 100, rel=1e-3)
    # oracle 2: rejection rate of a correct law by simulation
    rng = np.random.default_rng(0)
    n, trials = 1000, 400
    grid = np.linspace(-6, 6, 4001)
    logp = -0.5 * grid**2
    d = np.array([S.ks_to_density(rng.normal(size=n), grid, logp) for _ in range(trials)])
    rate = float(np.mean(d > S.ks_critical(n, 0.05)))
    assert 0.02 <= rate <= 0.09  # nominal 0.05; binomial sd ≈ 0.011


def test_split_half_ks_is_a_two_sample_distance_between_chain_halves():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8))
    assert S.split_half_ks(x) == pytest.approx(S.ks_two_sample(x[:, :4], x[:, 4:]))
    x[:, 4:] += 1.0  # halves from different laws: far above the one-sample floor
    f = noise_floor(x[:, :, None])
    assert f.half_split > 3 * f.ks_critical and f.threshold == f.half_split


def test_noise_floor_uses_the_effective_sample_size_of_correlated_chains():
    rng = np.random.default_rng(2)
    iid = rng.normal(size=(400, 16))
    ar = np.zeros_like(iid)
    for t in range(1, 400):  # AR(1), ρ = 0.9: τ = (1+ρ)/(1−ρ) = 19
        ar[t] = 0.9 * ar[t - 1] + np.sqrt(1 - 0.81) * iid[t]
    f_iid, f_ar = noise_floor(iid), noise_floor(ar)
    assert f_iid.n_eff == pytest.approx(iid.size, rel=0.3)
    assert f_ar.n_eff == pytest.approx(iid.size / 19, rel=0.4)
    assert f_ar.ks_critical > 3 * f_iid.ks_critical


def test_law_verdict_bands_and_two_sample_floor():
    f = NoiseFloor(n_eff=10_000, alpha=0.01, ks_critical=0.0163, half_split=0.005)
    assert law_verdict(0.01, f) == "reproduced"
    assert law_verdict(0.02, f) == "inconclusive"
    assert law_verdict(0.04, f) == "differs"
    assert law_verdict(float("nan"), f) == "inconclusive"
    assert "n_eff=1e+04" in f.target() and "α=0.01" in f.target()
    t = two_sample_floor(1000, 3000, 0.05)
    assert t.ks_critical == pytest.approx(1.358 * np.sqrt(4000 / 3e6), rel=1e-3)


def test_metric_values_reduce_declared_metrics():
    metrics = {"a": 2, "per_chain": [1.0, 2.0, 6.0], "nested": {"x": {"ks": 0.5}}, "text": "no", "flag": True}
    decl = (Metric("a", "1", ""), Metric("per_chain", "1", ""), Metric("nested.x.ks", "1", ""),
            Metric("missing", "1", ""), Metric("text", "1", ""))
    assert metric_values(metrics, decl) == {"a": 2.0, "per_chain": 3.0, "nested.x.ks": 0.5}
    assert metric_values(metrics, None) == {"a": 2.0, "flag": 1.0}


@pytest.mark.parametrize("exp", [e for e in experiment_ids() if e != "toy"])
def test_every_experiment_declares_metrics_and_figures(exp):
    mod = get_experiment(exp)
    assert callable(mod.figures) and callable(mod.run)
    assert mod.METRICS and all(isinstance(m, Metric) and m.unit and m.description for m in mod.METRICS)
    assert len({m.name for m in mod.METRICS}) == len(mod.METRICS)
