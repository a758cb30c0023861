r"""Closed-form and quadrature predictions of stationary laws for the scalar diagonal toy.

Model: one coordinate of ``hadamard(d, depth=L)``, ``w = u_1 ⋯ u_L`` with the quadratic loss
``L(w) = ½ (w − a)²``. All densities are **per dw** (Lebesgue measure on the predictor) and
returned as unnormalised log-densities on a grid of ``w > 0`` (normalise with
:func:`implicitbias.dynamics.stats.normalized_density`). Derivations: ``docs/theory.md``.

On the balanced slice ``|u_ℓ| = |w|^{1/L}``: ``|∇w|² = L |w|^{2−2/L}`` and the curvature term
``nᵀ H n = (L−1) w / |w|^{2/L}`` (H = Hessian of w, n = ∇w/|∇w|).

* :func:`paper_slice` — exp(−L/T) det C^{−1/2} per dσ_S converted to dw:
  ``|w|^{−2(L−1)/L}`` (L=2: |w|^{−1}).
* :func:`paper_arclength_as_dw` — the same density read per dw: ``|w|^{−(L−1)/L}``.
* :func:`plain_gibbs` — exp(−L/T), no geometric factor.
* :func:`isotropic_gibbs_wd` — marginal of exp(−(L(w) + λ‖θ‖²/2)/T) dθ over the orbit:
  L=2: ``2 K_0(λ|w|/T)``; L=3: a 2-D quadrature in log-coordinates.
* :func:`slice_conditioned_wd` — the isotropic Gibbs law conditioned on the moment-map slice
  χ = u² − v² = 0 (L = 2): ``exp(−L/T − λ|w|/T) / |w|``.
* :func:`reduced_diffusion` — stationary density ``∝ σ_w^{-2} exp(∫ 2 b/σ_w²)`` of the 1-D
  Itô diffusion of w on the slice, for projected Langevin, label-noise SGD and online
  minibatch SGD (see :func:`projected_drift_var`, :func:`sgd_drift_var`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import k0e

__all__ = [
    "quad_loss",
    "paper_slice",
    "paper_arclength_as_dw",
    "plain_gibbs",
    "isotropic_gibbs_wd",
    "slice_conditioned_wd",
    "reduced_diffusion",
    "projected_drift_var",
    "sgd_drift_var",
    "projected_closed_form",
    "label_noise_gamma_depth2",
]


def quad_loss(w: np.ndarray, a: float) -> np.ndarray:
    """``L(w) = ½ (w − a)²``."""
    return 0.5 * (np.asarray(w, dtype=float) - a) ** 2


def paper_slice(w: np.ndarray, a: float, T: float, depth: int) -> np.ndarray:
    """Paper's slice-conditioned density converted to dw: ``−L/T − 2(L−1)/L · log|w|``."""
    return -quad_loss(w, a) / T - 2.0 * (depth - 1) / depth * np.log(np.abs(w))


def paper_arclength_as_dw(w: np.ndarray, a: float, T: float, depth: int) -> np.ndarray:
    """``exp(−L/T) det G_slice^{−1/2}`` read per dw: ``−L/T − (L−1)/L · log|w|``."""
    return -quad_loss(w, a) / T - (depth - 1) / depth * np.log(np.abs(w))


def projected_closed_form(w: np.ndarray, a: float, T: float, depth: int) -> np.ndarray:
    """Projected-noise Langevin (Itô), per dw: ``exp(−L/T) |w|^{1/L − 1}`` (derived)."""
    return paper_arclength_as_dw(w, a, T, depth)


def plain_gibbs(w: np.ndarray, a: float, T: float) -> np.ndarray:
    """``−L(w)/T``."""
    return -quad_loss(w, a) / T


def _orbit_weight_depth3(w: np.ndarray, c: float, n: int = 500) -> np.ndarray:
    """``log ∫∫ exp(−c (e^{2s} + e^{2t} + w² e^{−2(s+t)})) ds dt`` by a tensor grid."""
    lo = 0.5 * np.log(1e-12 / c) if c > 0 else -20.0
    hi = 0.5 * np.log(40.0 / c)
    s = np.linspace(lo, hi, n)
    ds = s[1] - s[0]
    S, Tt = np.meshgrid(s, s, indexing="ij")
    base = np.exp(2 * S) + np.exp(2 * Tt)
    e = np.exp(-2 * (S + Tt))
    out = np.empty(len(w))
    for i, wi in enumerate(np.abs(np.asarray(w, dtype=float))):
        x = -c * (base + wi * wi * e)
        m = x.max()
        out[i] = m + np.log(np.exp(x - m).sum() * ds * ds)
    return out


def isotropic_gibbs_wd(w: np.ndarray, a: float, T: float, lam: float, depth: int) -> np.ndarray:
    """Isotropic Gibbs with weight decay λ, marginal in w (per dw), depth 2 or 3."""
    w = np.asarray(w, dtype=float)
    if depth == 2:
        x = lam * np.abs(w) / T
        orbit = np.log(k0e(x)) - x
    elif depth == 3:  # smooth in w: quadrature on ≤ 160 nodes, linear interpolation in between
        aw = np.abs(w)
        nodes = np.linspace(aw.min(), aw.max(), min(160, aw.size)) if aw.size > 1 else aw
        orbit = np.interp(aw, nodes, _orbit_weight_depth3(nodes, lam / (2 * T)))
    else:
        raise ValueError("isotropic_gibbs_wd: depth 2 or 3")
    return -quad_loss(w, a) / T + orbit


def slice_conditioned_wd(w: np.ndarray, a: float, T: float, lam: float) -> np.ndarray:
    """Depth 2: isotropic Gibbs conditioned on χ = u² − v² = 0: ``−L/T − λ|w|/T − log|w|``."""
    w = np.asarray(w, dtype=float)
    return -quad_loss(w, a) / T - lam * np.abs(w) / T - np.log(np.abs(w))


def reduced_diffusion(grid: np.ndarray, drift: Callable[[np.ndarray], np.ndarray],
                      var: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Log stationary density (per dw) of ``dw = b dt + σ dB`` on a grid inside (0, ∞).

    ``p ∝ σ(w)^{-2} exp(∫_{w_0}^{w} 2 b/σ² dw')`` (zero-flux solution), trapezoid rule.
    """
    g = np.asarray(grid, dtype=float)
    b, s2 = drift(g), var(g)
    f = 2.0 * b / s2
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(g))])
    return integral - np.log(s2)


def _slice_geometry(w: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``|∇w|²`` and ``nᵀHn`` on the balanced slice (w > 0)."""
    L = depth
    grad2 = L * np.abs(w) ** (2 - 2 / L)
    curv = (L - 1) * w / np.abs(w) ** (2 / L)
    return grad2, curv


def projected_drift_var(a: float, T: float, depth: int):
    """Drift and variance of w under projected Langevin on the slice.

    ``b = −(w − a)|∇w|² + T nᵀHn``, ``σ_w² = 2T |∇w|²``.
    """
    def drift(w):
        g2, c = _slice_geometry(w, depth)
        return -(w - a) * g2 + T * c

    def var(w):
        g2, _ = _slice_geometry(w, depth)
        return 2 * T * g2

    return drift, var


def sgd_drift_var(a: float, lr: float, depth: int, noise_var: Callable[[np.ndarray], np.ndarray]):
    """Drift and variance of w under SGD whose per-step gradient noise is ``ε ∇w``, Var ε = s(w).

    Time ``t = k·lr``; ``b = −(w − a)|∇w|² + ½ lr s(w) |∇w|² nᵀHn``,
    ``σ_w² = lr s(w) |∇w|⁴``. Label noise σ: ``s = σ²``. Online minibatch on
    ``y = a x + σ ε``, ``x ~ N(0, 1)``, batch B: ``s = (2 (w − a)² + σ²)/B``.
    """
    def drift(w):
        g2, c = _slice_geometry(w, depth)
        return -(w - a) * g2 + 0.5 * lr * noise_var(w) * g2 * c

    def var(w):
        g2, _ = _slice_geometry(w, depth)
        return lr * noise_var(w) * g2 * g2

    return drift, var


def label_noise_gamma_depth2(w: np.ndarray, a: float, lr: float, sigma: float) -> np.ndarray:
    """Depth 2 label-noise SGD closed form: Gamma(a/(ησ²) − ½, scale ησ²), log-density."""
    k = a / (lr * sigma**2) - 0.5
    return (k - 1) * np.log(w) - w / (lr * sigma**2)
