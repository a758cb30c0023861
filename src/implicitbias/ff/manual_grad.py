"""Closed-form FF loss gradients shared by the hand-written training steps.

For h = ReLU(z) ``(2B, H)`` (positives first) and goodness g_n, every supported goodness has
∂g/∂h = a_n·h (``l2``: a = 1/g, ``sumsq``: 2, ``meansq``: 2/H), and ReLU's mask is implied by
h = 0, so the FF loss has ∂L/∂z = (c_n·a_n)·h_n with c_n = ∂L/∂g_n:

* softplus loss L = mean over 2B of softplus(θ − g⁺), softplus(g⁻ − θ):
  c⁺ = −σ(θ − g⁺)/2B, c⁻ = σ(g⁻ − θ)/2B;
* SymBa L = mean_b softplus(−α(g⁺_b − g⁻_b)): c⁺ = −c⁻ = −α σ(−α(g⁺ − g⁻))/B.

Peer normalisation (Hinton / loeweX) adds λ·mean_j (r̄ − r_j)² with the running positive mean
r = m·r_old + (1 − m)·mean_b h⁺_b; its gradient is ∂/∂h⁺_bj = (1 − m)/B · 2λ/H · (r_j − r̄)
on active units (h⁺_bj > 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["CLOSED_FORM_GOODNESS", "goodness_and_dz_scale", "peer_term"]

#: goodness functions with ∂g/∂h = a·h, i.e. the ones the hand-written steps support
CLOSED_FORM_GOODNESS = ("l2", "sumsq", "meansq")


def goodness_and_dz_scale(
    h: torch.Tensor, B: int, kind: str, theta: float, loss: str, alpha: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FF loss, goodness ``(2B,)`` and the row scale s ``(2B,)`` with ∂L/∂z = s[:, None]·h.

    Args:
        h: ``(2B, H)`` ReLU outputs, positives then negatives.
        B: number of positives.
        kind: ``l2`` | ``sumsq`` | ``meansq``.
        theta: threshold θ.
        loss: ``softplus`` | ``symba`` (SymBa's α is ``alpha``).
    """
    H = h.shape[1]
    nrm = torch.linalg.vector_norm(h, dim=1)  # ‖h‖₂ in one pass
    gd = {"l2": nrm, "sumsq": nrm.square(), "meansq": nrm.square() / H}[kind]
    gp, gn = gd[:B], gd[B:]
    if loss == "softplus":
        value = torch.cat([F.softplus(theta - gp), F.softplus(gn - theta)]).mean()
        c = torch.cat([-torch.sigmoid(theta - gp), torch.sigmoid(gn - theta)]) / (2 * B)
    else:
        d = -alpha * (gp - gn)
        value = F.softplus(d).mean()
        cp = -alpha * torch.sigmoid(d) / B
        c = torch.cat([cp, -cp])
    a = {"l2": 1.0 / gd.clamp_min(1e-30), "sumsq": torch.full_like(gd, 2.0), "meansq": torch.full_like(gd, 2.0 / H)}[kind]
    return value, gd, c * a


def peer_term(h_pos: torch.Tensor, running: torch.Tensor, lam: float, momentum: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Peer-normalisation loss, the new running mean ``(H,)`` and ∂loss/∂h⁺ per unit ``(H,)``.

    The gradient row is the same for every positive; the caller masks it by h⁺ > 0.
    """
    B, H = h_pos.shape
    r = momentum * running + (1 - momentum) * h_pos.mean(0)
    dev = r - r.mean()
    return lam * dev.square().mean(), r, dev.mul_((1 - momentum) / B * 2 * lam / H)
