"""Stationary-law predictions: closed forms vs quadrature, and toys vs their oracles."""

from __future__ import annotations

import numpy as np
import torch
from scipy.integrate import dblquad, quad
from scipy.special import k0

from implicitbias import dynamics as dyn
from implicitbias.dynamics import stats as S
from implicitbias.dynamics import theory as TH
from implicitbias.dynamics import toys

G = np.linspace(0.05, 3.0, 3000)


def _pdf(lp):
    return S.normalized_density(lp, G)[0]


def test_label_noise_reduced_diffusion_is_the_gamma_law():
    dr, var = TH.sgd_drift_var(1.0, 2e-3, 2, lambda w: 49.0 + 0 * w)
    a, b = _pdf(TH.reduced_diffusion(G, dr, var)), _pdf(TH.label_noise_gamma_depth2(G, 1.0, 2e-3, 7.0))
    assert np.abs(a - b).max() < 1e-4 * a.max()


def test_projected_reduced_diffusion_matches_closed_form_all_depths():
    for L in (2, 3, 4):
        dr, var = TH.projected_drift_var(1.0, 0.1, L)
        a, b = _pdf(TH.reduced_diffusion(G, dr, var)), _pdf(TH.projected_closed_form(G, 1.0, 0.1, L))
        assert np.abs(a - b).max() < 1e-4 * a.max()


def test_isotropic_gibbs_orbit_weights_match_direct_quadrature():
    T, lam, w = 0.1, 0.2, 0.7
    # depth 2: ∫ exp(−λ(u² + w²/u²)/(2T)) du/|u| = 2 K0(λ|w|/T)
    num = quad(lambda u: np.exp(-lam * (u * u + w * w / (u * u)) / (2 * T)) / u, 1e-8, 50, limit=200)[0] * 2
    assert abs(num - 2 * k0(lam * w / T)) < 1e-6 * num
    lp = TH.isotropic_gibbs_wd(np.array([w]), 1.0, T, lam, 2)[0] + TH.quad_loss(w, 1.0) / T
    assert abs(lp - np.log(k0(lam * w / T))) < 1e-10
    # depth 3 (log-coordinates tensor grid vs scipy dblquad)
    c = lam / (2 * T)
    ref = dblquad(lambda t, s: np.exp(-c * (np.exp(2 * s) + np.exp(2 * t) + w * w * np.exp(-2 * (s + t)))), -15, 5, -15, 5)[0]
    assert abs(TH._orbit_weight_depth3(np.array([w]), c)[0] - np.log(ref)) < 1e-4


def test_ks_and_kl_detect_right_and_wrong_densities():
    rng = np.random.default_rng(0)
    x = rng.gamma(19.5, 0.05, size=20000)
    right = TH.label_noise_gamma_depth2(G, 1.0, 2e-3, np.sqrt(25.0))
    wrong = TH.plain_gibbs(G, 1.0, 0.05)
    assert S.ks_to_density(x, G, right) < 0.015
    assert S.ks_to_density(x, G, wrong) > 0.05
    assert S.kl_hist_to_density(x, G, right) < S.kl_hist_to_density(x, G, wrong)
    assert S.ks_two_sample(x[:10000], x[10000:]) < 0.03


def test_effective_sample_size_of_ar1():
    rng = np.random.default_rng(1)
    phi, R, C = 0.9, 4000, 8
    x = np.zeros((R, C))
    for t in range(1, R):
        x[t] = phi * x[t - 1] + rng.standard_normal(C)
    tau = S.integrated_autocorr_time(x)
    assert abs(tau / ((1 + phi) / (1 - phi)) - 1) < 0.2


def test_diag_projector_matches_generic_projection():
    for d, L in ((3, 2), (2, 3)):
        th = torch.randn(7, d * L, dtype=torch.float64)
        v = torch.randn(7, d * L, dtype=torch.float64)
        torch.testing.assert_close(toys.diag_project(d, L)(th, v),
                                   dyn.project_out_fields(toys.diag_fields(d, L)(th), v), rtol=0, atol=1e-12)


def test_label_noise_sgd_step_imbalance_identity():
    """One SGD step on w = uv: u'² − v'² = (u² − v²)(1 − η² g²) exactly (g = ∂ℓ/∂w)."""
    sim = toys.diag_simulator("label_noise", 3, 2, a=1.0, lr=0.05, label_sigma=1.5, record_every=1)
    th = torch.tensor([[1.5, 0.2, 2.0, 0.5, 1.1, 0.3]], dtype=torch.float64)
    res = sim.run(th, 1, seed=0)
    u, v = th[0, :3], th[0, 3:]
    u1, v1 = res.theta[0, :3], res.theta[0, 3:]
    g = (u - u1) / (0.05 * v)  # recover the per-coordinate gradient ∂ℓ/∂w from the step
    torch.testing.assert_close(u1**2 - v1**2, (u**2 - v**2) * (1 - 0.05**2 * g**2), rtol=1e-12, atol=1e-14)
