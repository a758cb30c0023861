"""Simultaneous FF (``algo="ff-simultaneous"``, Hinton / loeweX): every layer at once.

One pass over the network per batch; every layer trains on its own FF loss (+ peer term)
with its input ``detach()``-ed, so the sum of the local losses has the same gradients as
separate per-layer updates. Per layer one step costs the forward product
h_l = ReLU(x̂_l W_lᵀ + b_l) and the weight gradient (∂L/∂z_l)ᵀ x̂_l — no input gradient and no
autograd graph (closed forms in :mod:`implicitbias.ff.manual_grad`) for the closed-form
goodness kinds; otherwise autograd on the detached stack (tested equal).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from implicitbias.ff.algorithms.base import OnePhase, StepStats, backward, ff_objective, joint_batch
from implicitbias.ff.context import TrainContext
from implicitbias.ff.core import normalize_rows
from implicitbias.ff.manual_grad import CLOSED_FORM_GOODNESS, goodness_and_dz_scale, peer_term
from implicitbias.ff.negatives import Negatives

__all__ = ["SimultaneousFF"]


class SimultaneousFF(OnePhase):
    """Simultaneous FF (see module docstring).

    Attributes:
        hand_written: use the closed-form step where it applies (False: always autograd).
    """

    stat_names: ClassVar[tuple[str, ...]] = ("g_pos", "g_neg")
    samples_per_example: ClassVar[int] = 2

    def __init__(self, ctx: TrainContext, negatives: Negatives):
        super().__init__(ctx, negatives)
        self.hand_written = True

    def closed_form(self) -> bool:
        """Whether :meth:`step` uses the hand-written gradient."""
        return self.hand_written and self.ctx.cfg.goodness in CLOSED_FORM_GOODNESS

    def autograd_loss(self, x: torch.Tensor, new_peer: dict[int, torch.Tensor]) -> tuple[torch.Tensor, StepStats]:
        """Σ_l FF loss_l (+ peer terms) of the embedded ``(2B, D)`` batch, with its graph."""
        hs = self.ctx.net.forward_all(x, detach=True)
        return ff_objective(self.ctx, self.peer, hs, False, new_peer)

    @torch.no_grad()
    def hand_written_grad(self, x: torch.Tensor, new_peer: dict[int, torch.Tensor]) -> StepStats:
        """Same loss as :meth:`autograd_loss`; writes every layer's ``.grad``."""
        ctx, net, B = self.ctx, self.ctx.net, x.shape[0] // 2
        cfg = ctx.cfg
        total = torch.zeros((), device=x.device)
        gsum = torch.zeros(x.shape[0], device=x.device)
        inp = normalize_rows(x, net.norm, net.eps)
        for li, lin in enumerate(net.layers):
            h = torch.addmm(lin.bias, inp, lin.weight.t()).relu_()
            nxt = normalize_rows(h, net.norm, net.eps) if li + 1 < len(net.layers) else None
            value, gd, scale = goodness_and_dz_scale(h, B, cfg.goodness, ctx.theta(cfg.hidden[li]), cfg.loss, cfg.symba_alpha)
            total += value
            gsum += gd
            in_place = not self.peer.active and nxt is not h  # h is still needed (peer mask, or norm "none")
            dz = h.mul_(scale.unsqueeze(1)) if in_place else h * scale.unsqueeze(1)
            if self.peer.active:
                pv, new_peer[li], grow = peer_term(h[:B], self.peer.running[li], cfg.peer_norm, cfg.peer_momentum)
                total += pv
                dz[:B] += (h[:B] > 0) * grow
            lin.weight.grad = dz.t() @ inp
            lin.bias.grad = dz.sum(0)
            inp = nxt  # type: ignore[assignment]
        return StepStats(total, gsum[:B].mean(), gsum[B:].mean())

    def step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        x = joint_batch(self.ctx, self.negatives, idx, g)  # type: ignore[arg-type]
        new_peer: dict[int, torch.Tensor] = {}
        if self.closed_form():
            stats = self.hand_written_grad(x, new_peer)
        else:
            loss, stats = self.autograd_loss(x, new_peer)
            backward(loss, self.params_of_phase(0))
        self.peer.commit(new_peer)
        return stats
