"""BP (``algo="bp"``): a cross-entropy MLP of the same widths, the paper's control.

Loss on a batch: CE(head(h_L), y) + λ · mean_b Σ_l ‖h_{l,b}‖₁ (``l1_activity`` = λ, 0 = off);
the inputs carry no label and no layer normalisation.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from implicitbias.ff.algorithms.base import OnePhase, StepStats, backward
from implicitbias.ff.context import TrainContext
from implicitbias.ff.negatives import Negatives

__all__ = ["BP"]


class BP(OnePhase):
    """Backprop with cross-entropy (see module docstring); stats are (CE, 0)."""

    uses_peer: ClassVar[bool] = False
    stat_names: ClassVar[tuple[str, ...]] = ("ce",)
    samples_per_example: ClassVar[int] = 1

    def __init__(self, ctx: TrainContext, negatives: Negatives | None = None):
        if ctx.net.head is None:
            raise ValueError("BP needs a network with a head")
        super().__init__(ctx, negatives)

    def step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        ctx = self.ctx
        hs = ctx.net.forward_all(ctx.x[idx])
        ce = F.cross_entropy(ctx.net.head(hs[-1]), ctx.y[idx])  # type: ignore[misc]
        loss = ce
        if ctx.cfg.l1_activity > 0:
            loss = loss + ctx.cfg.l1_activity * sum(h.abs().sum(1).mean() for h in hs)
        backward(loss, self.params_of_phase(0))
        return StepStats(loss.detach(), ce.detach(), torch.zeros((), device=ctx.device))
