"""The hand-written ``ff-simultaneous`` step of :class:`~implicitbias.ff.trainer.Trainer` (a mixin).

Every layer trains on its own FF loss with its input detached, so per layer one step costs
the forward product h_l = ReLU(x̂_l W_lᵀ + b_l) and the weight gradient (∂L/∂z_l)ᵀ x̂_l — no
input gradient and no autograd graph (:mod:`implicitbias.ff.manual_grad` has the closed
forms). Same loss and gradients as the autograd path of ``Trainer._loss_joint`` (tested).
"""

from __future__ import annotations

import torch

from implicitbias.ff.core import normalize_rows
from implicitbias.ff.manual_grad import goodness_and_dz_scale, peer_term

__all__ = ["JointStepMixin"]


class JointStepMixin:
    """``_grad_joint`` (see module docstring); uses the trainer's ``net``, ``cfg``, ``peer``."""

    @torch.no_grad()
    def _grad_joint(self, x: torch.Tensor, new_peer: dict[int, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Σ_l FF loss_l (+ peer terms) for the embedded batch ``x`` ``(2B, D)``, positives first.

        Writes every layer's ``.grad``; returns (loss, mean summed goodness of positives, of
        negatives) and puts the new running peer means in ``new_peer``.
        """
        cfg, B = self.cfg, x.shape[0] // 2
        total = torch.zeros((), device=x.device)
        gsum = torch.zeros(x.shape[0], device=x.device)
        inp = normalize_rows(x, self.net.norm, self.net.eps)
        for li, lin in enumerate(self.net.layers):
            h = torch.addmm(lin.bias, inp, lin.weight.t()).relu_()
            nxt = normalize_rows(h, self.net.norm, self.net.eps) if li + 1 < len(self.net.layers) else None
            value, gd, scale = goodness_and_dz_scale(h, B, cfg.goodness, self.theta(cfg.hidden[li]), cfg.loss, cfg.symba_alpha)
            total += value
            gsum += gd
            in_place = not self.peer and nxt is not h  # h is still needed (peer mask, or norm "none")
            dz = h.mul_(scale.unsqueeze(1)) if in_place else h * scale.unsqueeze(1)
            if self.peer:
                pv, new_peer[li], grow = peer_term(h[:B], self.peer[li], cfg.peer_norm, cfg.peer_momentum)
                total += pv
                dz[:B] += (h[:B] > 0) * grow
            lin.weight.grad = dz.t() @ inp
            lin.bias.grad = dz.sum(0)
            inp = nxt  # type: ignore[assignment]
        return total, gsum[:B].mean(), gsum[B:].mean()
