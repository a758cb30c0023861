"""Statistics for comparing simulated samples with predicted densities.

* :func:`normalized_density` — a density given by its log on a grid, normalised on a window.
* :func:`ks_to_density` — Kolmogorov–Smirnov distance ``sup |F̂ − F|`` of samples (conditioned
  on the window) to a grid density.
* :func:`kl_hist_to_density` — ``KL(P̂ ‖ Q)`` between the binned sample law and the binned
  prediction (nats), both conditioned on the window.
* :func:`ks_two_sample` — two-sample KS distance.
* :func:`integrated_autocorr_time` / :func:`effective_sample_size` — for ``(R, C)`` series
  of R recorded times from C independent chains (Sokal's automatic window).
* :func:`ks_critical` — the level-α critical value of the one-sample KS distance at n
  (independent) samples; :func:`split_half_ks` — the KS distance between the samples of
  two independent halves of the chains (a noise floor measured on the simulation itself).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "normalized_density",
    "ks_to_density",
    "kl_hist_to_density",
    "ks_two_sample",
    "integrated_autocorr_time",
    "effective_sample_size",
    "fit_temperature",
    "ks_critical",
    "split_half_ks",
]


def normalized_density(logp: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``exp(logp)`` on ``grid`` (trapezoid). Returns ``(pdf, cdf)`` on the grid."""
    logp = np.asarray(logp, dtype=float)
    p = np.exp(logp - np.nanmax(logp))
    p = np.where(np.isfinite(p), p, 0.0)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])
    Z = cdf[-1]
    return p / Z, cdf / Z


def _window(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    s = np.asarray(samples, dtype=float).ravel()
    return np.sort(s[(s >= grid[0]) & (s <= grid[-1]) & np.isfinite(s)])


def ks_to_density(samples: np.ndarray, grid: np.ndarray, logp: np.ndarray) -> float:
    """KS distance of samples in ``[grid[0], grid[-1]]`` to the density ``exp(logp)`` there."""
    s = _window(samples, grid)
    if s.size == 0:
        return float("nan")
    _, cdf = normalized_density(logp, grid)
    F = np.interp(s, grid, cdf)
    n = s.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - F), np.max(F - (i - 1) / n)))


def kl_hist_to_density(samples: np.ndarray, grid: np.ndarray, logp: np.ndarray, bins: int = 60) -> float:
    """``KL(P̂‖Q) = Σ_b P̂_b log(P̂_b / Q_b)`` over ``bins`` equal-width bins of the window."""
    s = _window(samples, grid)
    if s.size == 0:
        return float("nan")
    _, cdf = normalized_density(logp, grid)
    edges = np.linspace(grid[0], grid[-1], bins + 1)
    q = np.diff(np.interp(edges, grid, cdf))
    p = np.histogram(s, bins=edges)[0] / s.size
    q = np.maximum(q, 1e-300)
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / q[m])))


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS distance ``sup |F_a − F_b|``."""
    a = np.sort(np.asarray(a, dtype=float).ravel())
    b = np.sort(np.asarray(b, dtype=float).ravel())
    x = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, x, "right") / a.size - np.searchsorted(b, x, "right") / b.size)))


def integrated_autocorr_time(series: np.ndarray, c: float = 5.0) -> float:
    """Integrated autocorrelation time (in records) of a ``(R, C)`` array, chains pooled.

    ``τ = 1 + 2 Σ_{k≥1} ρ_k`` with the chain-averaged autocorrelation ``ρ_k`` (FFT) and
    Sokal's window: the smallest ``M`` with ``M ≥ c τ(M)``.
    """
    x = np.asarray(series, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    R = x.shape[0]
    if R < 4:
        return float("nan")
    x = x - x.mean(axis=0, keepdims=True)
    n = 1 << (2 * R - 1).bit_length()
    f = np.fft.rfft(x, n=n, axis=0)
    acf = np.fft.irfft(f * np.conj(f), n=n, axis=0)[:R].mean(axis=1)
    if acf[0] <= 0:
        return float("nan")
    rho = acf / acf[0]
    taus = 2.0 * np.cumsum(rho) - 1.0
    for M in range(1, R):
        if M >= c * taus[M]:
            return float(max(taus[M], 1.0))
    return float(max(taus[-1], 1.0))


def effective_sample_size(series: np.ndarray) -> float:
    """``R · C / τ`` for a ``(R, C)`` array of recorded values."""
    x = np.asarray(series, dtype=float)
    tau = integrated_autocorr_time(x)
    return float(x.size / tau) if np.isfinite(tau) else float("nan")


def fit_temperature(samples: np.ndarray, grid: np.ndarray, logp_of_T: Callable[[float], np.ndarray],
                    T_lo: float, T_hi: float, n: int = 60) -> float:
    """Maximum-likelihood temperature of a one-parameter family (log-spaced scan + refine)."""
    s = _window(samples, grid)
    if s.size == 0:
        return float("nan")

    def nll(T: float) -> float:
        pdf, _ = normalized_density(logp_of_T(T), grid)
        return -float(np.mean(np.log(np.maximum(np.interp(s, grid, pdf), 1e-300))))

    Ts = np.geomspace(T_lo, T_hi, n)
    vals = [nll(T) for T in Ts]
    i = int(np.argmin(vals))
    lo, hi = Ts[max(i - 1, 0)], Ts[min(i + 1, n - 1)]
    Ts2 = np.geomspace(lo, hi, 25)
    vals2 = [nll(T) for T in Ts2]
    return float(Ts2[int(np.argmin(vals2))])


def ks_critical(n: float, alpha: float = 0.01) -> float:
    """``c(α) / √n``: the one-sample KS distance exceeded with probability α at n samples.

    ``c(α)`` is the upper-α quantile of the Kolmogorov distribution (asymptotic in n;
    ``c(0.05) = 1.358``, ``c(0.01) = 1.628``). For correlated samples pass the effective
    sample size. NaN when ``n`` is not positive.
    """
    from scipy.stats import kstwobign

    if not n > 0:
        return float("nan")
    return float(kstwobign.isf(alpha) / np.sqrt(n))


def split_half_ks(series: np.ndarray) -> float:
    """KS distance between the pooled samples of chains ``[0, C/2)`` and ``[C/2, C)``.

    ``series`` is ``(R, C, ...)`` (records × chains × anything pooled). The two halves are
    independent draws of the same law, so this distance is pure sampling noise; at n
    effective samples in all it is about ``2 K / √n`` (K Kolmogorov-distributed), twice the
    one-sample distance of the whole.
    """
    x = np.asarray(series, dtype=float)
    h = x.shape[1] // 2
    if h < 1:
        return float("nan")
    return ks_two_sample(x[:, :h].ravel(), x[:, h : 2 * h].ravel())
