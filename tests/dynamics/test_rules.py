"""Each noise rule against its defining property."""

from __future__ import annotations

import torch

from implicitbias import dynamics as dyn


def hadamard_fields(theta: torch.Tensor) -> torch.Tensor:
    """Orbit fields of w = u ⊙ v, θ = (u, v): ξ_i = u_i e_{u_i} − v_i e_{v_i}; (C, 2d, d)."""
    C, D = theta.shape
    d = D // 2
    u, v = theta[:, :d], theta[:, d:]
    eye = torch.eye(d, dtype=theta.dtype)
    return torch.cat([u[:, :, None] * eye, -v[:, :, None] * eye], dim=1)


def test_projected_noise_is_orthogonal_to_orbit_fields():
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(50, 8, generator=g, dtype=torch.float64)
    theta[0, 0] = theta[0, 4] = 0.0  # a singular point: one field vanishes
    v = torch.randn(50, 8, generator=g, dtype=torch.float64)
    F = hadamard_fields(theta)
    p = dyn.project_out_fields(F, v)
    assert (F.transpose(1, 2) @ p[:, :, None]).abs().max() < 1e-10
    # idempotent, and it only removes the orbit component (residual lies in span(F))
    torch.testing.assert_close(dyn.project_out_fields(F, p), p, rtol=0, atol=1e-12)
    coef = torch.linalg.lstsq(F, (v - p)[:, :, None], driver="gelsd").solution
    torch.testing.assert_close(F @ coef, (v - p)[:, :, None], rtol=0, atol=1e-10)
    assert (p - v).abs().max() > 1e-3


def test_projected_langevin_rule_moves_only_across_orbits():
    """With no gradient, one step keeps the update orthogonal to Ξ(θ) to 1e-10."""
    def zero_loss(p, batch):
        return (p["u"] * p["v"]).sum() * 0.0

    sim = dyn.Simulator(zero_loss, {"u": (3,), "v": (3,)},
                        dyn.chain(dyn.projected_langevin(0.1, 2.0, fields=hadamard_fields)))
    g = torch.Generator().manual_seed(1)
    th = torch.randn(20, 6, generator=g, dtype=torch.float64)
    res = sim.run(th, 1, seed=0)
    step = res.theta - th
    F = hadamard_fields(th)
    assert (F.transpose(1, 2) @ step[:, :, None]).abs().max() < 1e-10
    assert step.abs().max() > 1e-2


def test_label_noise_update_covariance_matches_formula():
    """Δθ = −η ∇(mean ½(f − y − σε)²): Cov = (ησ/B)² Σ_i ∇f_i ∇f_iᵀ for f_i = x_i·(u ⊙ v)."""
    B, d, eta, sigma, C = 5, 3, 0.1, 0.7, 40_000
    g = torch.Generator().manual_seed(2)
    X = torch.randn(B, d, generator=g, dtype=torch.float64)
    y = torch.randn(B, generator=g, dtype=torch.float64)
    u0 = torch.randn(d, generator=g, dtype=torch.float64)
    v0 = torch.randn(d, generator=g, dtype=torch.float64)

    def loss(p, batch):
        f = batch["x"] @ (p["u"] * p["v"])
        return 0.5 * ((f - batch["y"]) ** 2).mean()

    sim = dyn.Simulator(loss, {"u": (d,), "v": (d,)},
                        dyn.chain(dyn.label_noise(sigma), dyn.gradient_step(eta)),
                        data=dyn.FullBatch({"x": X, "y": y}), block=1)
    th0 = torch.cat([u0, v0]).expand(C, 2 * d).clone()
    res = sim.run(th0, 1, seed=4)
    delta = res.theta - th0
    J = torch.cat([X * v0, X * u0], dim=1)  # (B, 2d): ∇θ f_i
    cov_pred = (eta * sigma / B) ** 2 * J.T @ J
    mean_pred = -eta * (J.T @ (X @ (u0 * v0) - y)) / B
    cov_emp = torch.cov(delta.T)
    scale = cov_pred.abs().max()
    assert (cov_emp - cov_pred).abs().max() / scale < 0.05
    assert (delta.mean(0) - mean_pred).abs().max() < 5 * (eta * sigma / B) * J.abs().max() / C**0.5 * 3
    # rank of the noise covariance is at most B (it lies in span of the ∇f_i)
    ev = torch.linalg.eigvalsh(cov_pred)
    assert (ev[: 2 * d - B] < 1e-12 * ev[-1]).all()


def test_langevin_stationary_variance_of_discrete_ou():
    """θ' = (1 − ηa)θ + sqrt(2Tη)ξ has stationary variance 2Tη / (1 − (1 − ηa)²)."""
    a, eta, T, C = 2.0, 0.05, 0.3, 4000

    def loss(p, batch):
        return 0.5 * a * (p["x"] ** 2).sum()

    sim = dyn.Simulator(loss, {"x": (1,)}, dyn.chain(dyn.gradient_step(eta), dyn.langevin(eta, T)))
    res = sim.run(torch.zeros(C, 1, dtype=torch.float64), 200, seed=0)
    pred = 2 * T * eta / (1 - (1 - eta * a) ** 2)
    emp = res.theta.var().item()
    assert abs(emp / pred - 1) < 4 * (2 / C) ** 0.5  # sd of a sample variance ≈ sqrt(2/C)


def test_weight_decay_is_exponential_shrinkage():
    def loss(p, batch):
        return (p["x"] * 0.0).sum()

    sim = dyn.Simulator(loss, {"x": (2,)}, dyn.chain(dyn.weight_decay(0.1, 0.5)))
    th = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    res = sim.run(th, 10, seed=0)
    torch.testing.assert_close(res.theta, th * (1 - 0.05) ** 10)


def test_subsample_indices_uniform_and_without_replacement():
    N, B, C = 7, 3, 20_000
    src = dyn.Subsample({"i": torch.arange(N, dtype=torch.float64)}, B, replace=False)
    u = torch.rand(C, N, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    idx = src.indices({"u": u})
    assert all(len(set(r.tolist())) == B for r in idx[:200])
    counts = torch.bincount(idx.flatten(), minlength=N).double() / (C * B)
    assert (counts - 1 / N).abs().max() < 0.01
    src_r = dyn.Subsample({"i": torch.arange(N, dtype=torch.float64)}, B, replace=True)
    idx_r = src_r.indices({"u": u[:, :B]})
    counts_r = torch.bincount(idx_r.flatten(), minlength=N).double() / (C * B)
    assert (counts_r - 1 / N).abs().max() < 0.01 and idx_r.max() < N


def test_sgd_temperature_constant():
    assert dyn.sgd_temperature(0.1, 4, 2.0) == 0.1 * 2.0 / 8
