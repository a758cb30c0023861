"""Inhibition analysis: weight-sign statistics and excitatory/inhibitory drive per unit.

For a layer with weights W ``(H, D)``, bias b ``(H,)`` and input rows x ``(N, D)`` the
pre-activation of unit j is z_j = Σ_i W_ji x_i + b_j. Split the terms by sign:

    E_j = Σ_i [W_ji x_i]₊  (excitatory drive),   I_j = Σ_i [−W_ji x_i]₊  (inhibitory drive),

so z_j = E_j − I_j + b_j. With W = W⁺ − W⁻ and x = x⁺ − x⁻ (positive/negative parts) a
product is positive iff the signs agree, hence exactly

    E = x⁺ W⁺ᵀ + x⁻ W⁻ᵀ,    I = x⁺ W⁻ᵀ + x⁻ W⁺ᵀ,

four matmuls instead of an ``(N, H, D)`` tensor (reference §4.8, a proposal).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from implicitbias.analysis._arrays import ArrayLike, as_2d, as_labels, to_numpy

__all__ = ["weight_sign_stats", "drive_decomposition", "drive_summary"]


def weight_sign_stats(weight: ArrayLike, bias: ArrayLike | None = None) -> dict[str, float]:
    """Sign statistics of a layer's weights ``(H, D)`` and biases ``(H,)``.

    Returns:
        ``neg_weight_frac`` (fraction of negative weights), ``neg_weight_frac_unit_sd``
        (sd over units of their negative fraction), ``mean_pos_weight`` / ``mean_neg_weight``
        (mean magnitude of positive / negative weights), ``neg_to_pos_mass`` (Σ|W⁻| / ΣW⁺),
        and with a bias ``neg_bias_frac``, ``mean_bias``, ``median_bias``.
    """
    w = as_2d(weight, "weight")
    neg = w < 0
    pos = w > 0
    per_unit = neg.mean(axis=1)
    out = {
        "neg_weight_frac": float(neg.mean()),
        "neg_weight_frac_unit_sd": float(per_unit.std()),
        "mean_pos_weight": float(w[pos].mean()) if pos.any() else 0.0,
        "mean_neg_weight": float(-w[neg].mean()) if neg.any() else 0.0,
        "neg_to_pos_mass": float(-w[neg].sum() / w[pos].sum()) if pos.any() else float("nan"),
    }
    if bias is not None:
        b = to_numpy(bias).astype(np.float64).ravel()
        out.update(
            neg_bias_frac=float((b < 0).mean()),
            mean_bias=float(b.mean()),
            median_bias=float(np.median(b)),
        )
    return out


def drive_decomposition(x: ArrayLike, weight: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Excitatory and inhibitory drive ``(E, I)``, each ``(N, H)``, of input ``x`` ``(N, D)``."""
    a = as_2d(x, "x")
    w = as_2d(weight, "weight")
    if a.shape[1] != w.shape[1]:
        raise ValueError(f"input has {a.shape[1]} features, weight expects {w.shape[1]}")
    wp, wn = np.maximum(w, 0), np.maximum(-w, 0)
    if not (a < 0).any():  # post-ReLU inputs: x⁻ = 0, two products suffice
        return a @ wp.T, a @ wn.T
    xp, xn = np.maximum(a, 0), np.maximum(-a, 0)
    return xp @ wp.T + xn @ wn.T, xp @ wn.T + xn @ wp.T


def drive_summary(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike,
    labels: ArrayLike,
    members: ArrayLike,
) -> dict[str, Any]:
    """Excitatory/inhibitory drive for ensemble vs non-ensemble units, and what silences units.

    Args:
        x: layer input ``(N, D)`` (what the layer's Linear sees, after any normalisation).
        weight, bias: the layer's ``(H, D)`` and ``(H,)``.
        labels: true classes ``(N,)``.
        members: ensembles ``(K, H)``; unit j is "in-ensemble" for sample n if j ∈ E_{y_n}.

    Returns:
        Means of E, I and I/E over (sample, unit) pairs in / out of the sample's class
        ensemble; the fraction of silent pairs (z ≤ 0); among silent pairs, the fraction
        already silenced by the bias alone (E + b ≤ 0: the bias outweighs all excitation,
        a global threshold) vs needing input-specific inhibition (E + b > 0 ≥ E − I + b).
    """
    e, i = drive_decomposition(x, weight)
    b = to_numpy(bias).astype(np.float64).ravel()
    y = as_labels(labels, e.shape[0])
    mem = np.asarray(members, dtype=bool)[y]  # (N, H)
    z = e - i + b[None, :]
    silent = z <= 0
    by_bias = silent & (e + b[None, :] <= 0)
    out: dict[str, Any] = {}
    for name, mask in (("in_ensemble", mem), ("out_ensemble", ~mem)):
        n = int(mask.sum())
        out[name] = {
            "n_pairs": n,
            "mean_exc": float(e[mask].mean()) if n else float("nan"),
            "mean_inh": float(i[mask].mean()) if n else float("nan"),
            "silent_frac": float(silent[mask].mean()) if n else float("nan"),
        }
    ns = int(silent.sum())
    out["silent_frac"] = float(silent.mean())
    out["silenced_by_bias_frac"] = float(by_bias.sum() / ns) if ns else float("nan")
    out["silenced_by_inhibition_frac"] = float((silent & ~by_bias).sum() / ns) if ns else float("nan")
    return out
