"""BP/FF: backpropagation through the whole network on an FF objective.

* ``bpff`` (Tosato): one FF loss on the summed goodness G = Σ_l g_l (θ of Σ widths);
* ``bpff-perlayer``: the sum of the per-layer FF losses, gradients flowing across layers
  (the same objective as ``ff-simultaneous`` without its ``detach``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from implicitbias.ff.algorithms.base import PeerNorm, StepStats, backward, ff_objective, joint_batch
from implicitbias.ff.context import TrainContext
from implicitbias.ff.negatives import Negatives

__all__ = ["BPFF", "BPFFPerLayer"]


class BPFF:
    """``bpff``: backprop on the summed-goodness FF loss (see module docstring)."""

    layerwise: ClassVar[bool] = False
    stat_names: ClassVar[tuple[str, ...]] = ("g_pos", "g_neg")
    samples_per_example: ClassVar[int] = 2
    summed: ClassVar[bool] = True

    def __init__(self, ctx: TrainContext, negatives: Negatives):
        self.ctx, self.negatives = ctx, negatives
        self.peer = PeerNorm(ctx.cfg.hidden, ctx.cfg.peer_norm, ctx.cfg.peer_momentum, ctx.device)

    def phases(self) -> int:
        return 1

    def params_of_phase(self, p: int) -> list[nn.Parameter]:
        return list(self.ctx.net.parameters())

    def start_phase(self, p: int) -> None:
        return None

    def release(self) -> None:
        return None

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.peer.state_tensors()

    def load_state_tensors(self, t: dict[str, torch.Tensor]) -> None:
        self.peer.load_state_tensors(t)

    def autograd_loss(self, x: torch.Tensor, new_peer: dict[int, torch.Tensor]) -> tuple[torch.Tensor, StepStats]:
        """The objective of the embedded ``(2B, D)`` batch, with its graph through every layer."""
        return ff_objective(self.ctx, self.peer, self.ctx.net.forward_all(x), self.summed, new_peer)

    def step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        new_peer: dict[int, torch.Tensor] = {}
        loss, stats = self.autograd_loss(joint_batch(self.ctx, self.negatives, idx, g), new_peer)
        backward(loss, self.params_of_phase(0))
        self.peer.commit(new_peer)
        return stats


class BPFFPerLayer(BPFF):
    """``bpff-perlayer``: backprop on Σ_l of the per-layer FF losses."""

    summed: ClassVar[bool] = False
