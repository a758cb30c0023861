"""Representation geometry: TwoNN intrinsic dimension and linear CKA.

**TwoNN** (Facco et al. 2017). For each point i let r1 ≤ r2 be the distances to its two
nearest neighbours and μ_i = r2 / r1. If the data lie on a d-dimensional manifold with
locally constant density, μ follows the Pareto law F(μ) = 1 − μ^{−d}. Two estimators:

* ``"mle"``: d̂ = (N − 1) / Σ_i log μ_i (unbiased form of the maximum-likelihood estimate);
* ``"fit"`` (the paper's): discard the largest (1 − fraction) of the μ, and fit the line
  −log(1 − F_emp(μ)) = d log μ through the origin by least squares.

Points with r1 = 0 (duplicates) are dropped and counted.

**Linear CKA** (Kornblith et al. 2019) between X ``(N, p)`` and Y ``(N, q)`` with rows the
same N inputs. With column-centred X̄, Ȳ:

    CKA_biased = ‖Ȳᵀ X̄‖²_F / (‖X̄ᵀ X̄‖_F ‖Ȳᵀ Ȳ‖_F).

The *unbiased* version replaces each HSIC by Song et al.'s (2012) unbiased estimator on the
Gram matrices K = XXᵀ, L = YYᵀ with zeroed diagonals K̃, L̃:

    HSIC_u(K, L) = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3)),

computed here in feature space in O(N p q) memory-light form (no N × N matrices). Both are
invariant to orthogonal transforms and isotropic scaling of either representation.
"""

from __future__ import annotations

import numpy as np
import torch

from implicitbias.analysis._arrays import ArrayLike, as_2d

__all__ = [
    "twonn_ratios",
    "twonn_dimension",
    "twonn_dadapy",
    "linear_cka",
    "LinearCKAAccumulator",
    "hsic_unbiased_gram",
    "cka_matrix",
]


def twonn_ratios(x: ArrayLike, chunk: int = 2048) -> tuple[np.ndarray, int]:
    """μ_i = r2/r1 for each point of ``x`` ``(N, D)``; returns (μ of valid points, n_dropped).

    Distances are computed in float64 with torch in chunks of ``chunk`` query rows.
    """
    a = torch.from_numpy(as_2d(x, dtype=np.float64))
    n = a.shape[0]
    if n < 3:
        raise ValueError("TwoNN needs at least 3 points")
    sq = (a * a).sum(1)
    r = torch.empty(n, 2, dtype=torch.float64)
    for s in range(0, n, chunk):
        q = a[s : s + chunk]
        d2 = (sq[s : s + chunk, None] + sq[None, :] - 2.0 * q @ a.T).clamp_min_(0.0)
        idx = torch.arange(q.shape[0])
        d2[idx, idx + s] = float("inf")  # exclude self
        r[s : s + chunk] = torch.topk(d2, 2, dim=1, largest=False).values.sqrt()
    r1, r2 = r[:, 0].numpy(), r[:, 1].numpy()
    ok = r1 > 0
    return r2[ok] / r1[ok], int((~ok).sum())


def twonn_dimension(x: ArrayLike, method: str = "fit", fraction: float = 0.9) -> float:
    """TwoNN intrinsic dimension of the point cloud ``x`` ``(N, D)`` (see module docstring)."""
    mu, _ = twonn_ratios(x)
    mu = mu[mu > 1.0] if method == "fit" else mu
    n = mu.size
    if n < 3:
        return float("nan")
    logmu = np.log(mu)
    if method == "mle":
        return float((n - 1) / logmu.sum())
    if method != "fit":
        raise ValueError(f"unknown TwoNN method {method!r} (use 'fit' or 'mle')")
    order = np.sort(logmu)
    f_emp = np.arange(1, n + 1) / n
    keep = int(np.floor(fraction * n))
    xs = order[:keep]
    ys = -np.log(1.0 - f_emp[:keep])
    return float((xs @ ys) / (xs @ xs))


def twonn_dadapy(x: ArrayLike) -> float | None:
    """TwoNN dimension by DADApy (``Data(x).compute_id_2NN()``), or ``None`` if not installed.

    DADApy is the optional ``analysis`` extra, used only to cross-check
    :func:`twonn_dimension`; nothing in the library requires it.
    """
    try:
        from dadapy import Data  # type: ignore[import-not-found]
    except ImportError:
        return None
    est = Data(coordinates=as_2d(x, dtype=np.float64)).compute_id_2NN()
    return float(est[0] if isinstance(est, tuple) else est)


class LinearCKAAccumulator:
    """Streaming linear CKA: feed row-aligned chunks of X ``(b, p)`` and Y ``(b, q)``.

    Keeps sufficient statistics (n, S_x = Σx_i, S_y, XᵀX, YᵀY, XᵀY, and with k_x,i = ‖x_i‖²,
    k_y,i = ‖y_i‖²: Σk_x k_y, Σk_x², Σk_y², Σk_x, Σk_y, Σ k_a,i b_i for a, b ∈ {x, y}), so the
    result equals the full-batch computation whatever the chunking. Memory O(p² + q² + pq).
    """

    def __init__(self) -> None:
        self.n = 0
        self._s: dict[str, np.ndarray] = {}

    def update(self, x: ArrayLike, y: ArrayLike) -> None:
        """Add the rows of ``x`` ``(b, p)`` and ``y`` ``(b, q)``."""
        a = as_2d(x, "x", dtype=np.float64)
        b = as_2d(y, "y", dtype=np.float64)
        if a.shape[0] != b.shape[0]:
            raise ValueError("x and y must have the same number of rows")
        feats = {"x": a, "y": b}
        ks = {"x": (a * a).sum(1), "y": (b * b).sum(1)}
        new: dict[str, np.ndarray] = {}
        for p in "xy":
            new[f"S{p}"] = feats[p].sum(0)
            new[f"sk{p}"] = np.array(ks[p].sum())
            for q in "xy":
                if (p, q) != ("y", "x"):  # C_yx = C_xyᵀ, derived below
                    new[f"C{p}{q}"] = feats[p].T @ feats[q]
                new[f"kk{p}{q}"] = np.array(ks[p] @ ks[q])
                new[f"w{p}k{q}"] = ks[q] @ feats[p]  # Σ_i k_q,i p_i
        for key, v in new.items():
            self._s[key] = self._s[key] + v if key in self._s else v
        self._s["Cyx"] = self._s["Cxy"].T
        self.n += a.shape[0]

    def _hsic_biased(self, p: str, q: str) -> float:
        s, n = self._s, self.n
        cc = s[f"C{p}{q}"] - np.outer(s[f"S{p}"], s[f"S{q}"]) / n
        return float((cc * cc).sum())

    def _hsic_unbiased(self, p: str, q: str) -> float:
        s, n = self._s, self.n
        if n < 4:
            return float("nan")
        c, sp, sq = s[f"C{p}{q}"], s[f"S{p}"], s[f"S{q}"]
        kk = float(s[f"kk{p}{q}"])
        tr = float((c * c).sum()) - kk  # tr(K̃L̃) = Σ_{i≠j} K_ij L_ij
        one_k = float(sp @ sp) - float(s[f"sk{p}"])  # 1ᵀK̃1
        one_l = float(sq @ sq) - float(s[f"sk{q}"])
        # (K̃1)_i = p_i·S_p − k_p,i, so 1ᵀK̃L̃1 = S_pᵀ C S_q − S_q·Σk_p,i q_i − S_p·Σk_q,i p_i + Σk_p k_q
        one_kl = float(sp @ c @ sq) - float(sq @ s[f"w{q}k{p}"]) - float(sp @ s[f"w{p}k{q}"]) + kk
        val = tr + one_k * one_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * one_kl
        return val / (n * (n - 3))

    def result(self, unbiased: bool = False) -> float:
        """CKA of everything fed so far (biased by default)."""
        if self.n == 0:
            return float("nan")
        f = self._hsic_unbiased if unbiased else self._hsic_biased
        xy, xx, yy = f("x", "y"), f("x", "x"), f("y", "y")
        den = np.sqrt(xx * yy) if xx > 0 and yy > 0 else 0.0
        return float(xy / den) if den > 0 else float("nan")


def hsic_unbiased_gram(k: ArrayLike, l_: ArrayLike) -> float:
    """Song et al.'s unbiased HSIC from two ``(n, n)`` Gram matrices (reference oracle)."""
    kk = as_2d(k, "K").copy()
    ll = as_2d(l_, "L").copy()
    n = kk.shape[0]
    np.fill_diagonal(kk, 0.0)
    np.fill_diagonal(ll, 0.0)
    one = np.ones(n)
    val = (
        np.trace(kk @ ll)
        + (one @ kk @ one) * (one @ ll @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ kk @ ll @ one)
    )
    return float(val / (n * (n - 3)))


def linear_cka(x: ArrayLike, y: ArrayLike, unbiased: bool = False, chunk: int | None = None) -> float:
    """Linear CKA between ``x`` ``(N, p)`` and ``y`` ``(N, q)`` (see module docstring).

    Args:
        unbiased: use the unbiased HSIC estimator (needs N ≥ 4).
        chunk: accumulate over row chunks of this size (same result; bounded memory).
    """
    a = as_2d(x, "x")
    b = as_2d(y, "y")
    acc = LinearCKAAccumulator()
    step = chunk or max(a.shape[0], 1)
    for s in range(0, a.shape[0], step):
        acc.update(a[s : s + step], b[s : s + step])
    return acc.result(unbiased=unbiased)


def cka_matrix(reps: dict[str, ArrayLike], unbiased: bool = False) -> tuple[list[str], np.ndarray]:
    """Pairwise linear CKA between named representations of the same N inputs."""
    names = list(reps)
    m = np.eye(len(names))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            m[i, j] = m[j, i] = linear_cka(reps[names[i]], reps[names[j]], unbiased=unbiased)
    return names, m
