"""BP/FF: backpropagation through the whole network on an FF objective.

* ``bpff`` (Tosato): one FF loss on the summed goodness G = Σ_l g_l (θ of Σ widths);
* ``bpff-perlayer``: the sum of the per-layer FF losses, gradients flowing across layers
  (the same objective as ``ff-simultaneous`` without its ``detach``).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from implicitbias.ff.algorithms.base import OnePhase, StepStats, backward, ff_objective, joint_batch

__all__ = ["BPFF", "BPFFPerLayer"]


class BPFF(OnePhase):
    """``bpff``: backprop on the summed-goodness FF loss (see module docstring)."""

    stat_names: ClassVar[tuple[str, ...]] = ("g_pos", "g_neg")
    samples_per_example: ClassVar[int] = 2
    summed: ClassVar[bool] = True

    def autograd_loss(self, x: torch.Tensor, new_peer: dict[int, torch.Tensor]) -> tuple[torch.Tensor, StepStats]:
        """The objective of the embedded ``(2B, D)`` batch, with its graph through every layer."""
        return ff_objective(self.ctx, self.peer, self.ctx.net.forward_all(x), self.summed, new_peer)

    def step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        new_peer: dict[int, torch.Tensor] = {}
        x = joint_batch(self.ctx, self.negatives, idx, g)  # type: ignore[arg-type]
        loss, stats = self.autograd_loss(x, new_peer)
        backward(loss, self.params_of_phase(0))
        self.peer.commit(new_peer)
        return stats


class BPFFPerLayer(BPFF):
    """``bpff-perlayer``: backprop on Σ_l of the per-layer FF losses."""

    summed: ClassVar[bool] = False
