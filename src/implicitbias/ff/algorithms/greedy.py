"""Greedy FF (``algo="ff"``, Tosato / Hinton's first recipe): one phase per layer.

Phase p trains layer p alone on its FF loss; its input is the normalised output of the frozen
layers below, N(h_{p−1}) (h_0 = the embedded image). Those inputs are computed once per phase
for every positive (and every fixed negative) and cached, chunk by chunk, in place when the
widths match (:class:`InputCache`); a batch then gathers its rows from the cache. Resampled
negatives change every batch and go through the frozen layers on the fly.

The step: with closed-form goodness (``l2``, ``sumsq``, ``meansq``) and no peer
normalisation the gradient is written by hand (two products per step,
h = ReLU(x̂Wᵀ + b) and ∂L/∂W = (∂L/∂z)ᵀx̂ with ∂L/∂z = s[:, None]·h, see
:mod:`implicitbias.ff.manual_grad`; every large tensor in a per-phase buffer); otherwise by
autograd on the same input. Both are tested equal.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from implicitbias.ff.algorithms.base import PeerAlgorithm, StepStats, backward
from implicitbias.ff.algorithms.input_cache import InputCache
from implicitbias.ff.context import TrainContext
from implicitbias.ff.core import ff_loss, goodness, normalize_rows_
from implicitbias.ff.manual_grad import CLOSED_FORM_GOODNESS, goodness_and_dz_scale
from implicitbias.ff.negatives import Negatives

__all__ = ["GreedyFF"]


class GreedyFF(PeerAlgorithm):
    """Greedy layer-by-layer FF (see module docstring).

    Attributes:
        hand_written: use the closed-form step where it applies (False: always autograd).
        cache: the layer inputs of the current phase.
    """

    layerwise: ClassVar[bool] = True
    stat_names: ClassVar[tuple[str, ...]] = ("g_pos", "g_neg")
    samples_per_example: ClassVar[int] = 2

    def __init__(self, ctx: TrainContext, negatives: Negatives):
        super().__init__(ctx, negatives)
        self.negatives: Negatives = negatives
        self.cache = InputCache(ctx, negatives.fixed_pairs)
        self.hand_written = True
        self.phase = -1
        self._bufs: dict[str, torch.Tensor] = {}  # per-phase workspaces of the step

    def phases(self) -> int:
        return len(self.ctx.cfg.hidden)

    def params_of_phase(self, p: int) -> list[nn.Parameter]:
        return list(self.ctx.net.layers[p].parameters())

    def start_phase(self, p: int) -> None:
        """Cache of the layer-p inputs: advanced from phase p − 1's, else rebuilt from the data."""
        self.cache.move_to(p)
        self.phase, self._bufs = p, {}

    def release(self) -> None:
        self.cache.clear()
        self._bufs = {}

    def _buf(self, name: str, rows: int, cols: int) -> torch.Tensor:
        """A reused ``(rows, cols)`` float32 workspace (first ``rows`` rows of a per-phase buffer).

        Large temporaries on the CPU are fresh ``mmap`` pages every step (page faults, zeroing);
        reusing one buffer per role keeps the step at the cost of its two matrix products.
        """
        b = self._bufs.get(name)
        if b is None or b.shape[0] < rows or b.shape[1] != cols:
            b = self._bufs[name] = torch.empty(rows, cols, device=self.ctx.device)
        return b[:rows]

    def layer_input(self, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Normalised input ``(2B, D_p)`` of the phase's layer: positives then negatives."""
        ctx, p, B = self.ctx, self.phase, idx.shape[0]
        net = ctx.net
        if p == 0:
            inp = self._buf("inp", 2 * B, ctx.emb.dim_out)
            ctx.embed_into(inp[:B], idx, ctx.y[idx])
            ctx.embed_into(inp[B:], *self.negatives.pairs(idx, g))
            return normalize_rows_(inp, net.norm, net.eps)
        pos, neg = self.cache.tensors()
        inp = self._buf("inp", 2 * B, pos.shape[1])
        torch.index_select(pos, 0, idx, out=inp[:B])
        if self.negatives.fixed_pairs is not None:
            torch.index_select(neg, 0, idx, out=inp[B:])
        else:
            img, lab = self.negatives.pairs(idx, g)
            inp[B:] = self.cache.frozen_input(p, ctx.emb.embed(ctx.x[img], lab))
        return inp

    def closed_form(self) -> bool:
        """Whether :meth:`step` uses the hand-written gradient."""
        return self.hand_written and self.ctx.cfg.goodness in CLOSED_FORM_GOODNESS and not self.peer.active

    def autograd_loss(self, idx: torch.Tensor, g: torch.Generator, new_peer: dict[int, torch.Tensor]) -> tuple[torch.Tensor, StepStats]:
        """Layer-p FF loss (+ peer term) with its autograd graph (any goodness) and the stats."""
        cfg, p, B = self.ctx.cfg, self.phase, idx.shape[0]
        h = F.relu(self.ctx.net.layers[p](self.layer_input(idx, g)))
        gd = goodness(h, cfg.goodness)
        loss = ff_loss(gd[:B], gd[B:], self.ctx.theta(cfg.hidden[p]), cfg.loss, cfg.symba_alpha)
        if self.peer.active:
            loss = loss + self.peer.loss(p, h[:B], new_peer)
        return loss, StepStats(loss.detach(), gd[:B].detach().mean(), gd[B:].detach().mean())

    @torch.no_grad()
    def hand_written_step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        """Same loss as :meth:`autograd_loss`, gradient written by hand into ``.grad``.

        ∂L/∂W = (∂L/∂z)ᵀ x̂, ∂L/∂b = Σ_n ∂L/∂z_n; the ``.grad`` tensors are per-phase buffers,
        overwritten by the next call.
        """
        cfg, p, B = self.ctx.cfg, self.phase, idx.shape[0]
        lin = self.ctx.net.layers[p]
        inp = self.layer_input(idx, g)
        H = lin.weight.shape[0]
        h = torch.addmm(lin.bias, inp, lin.weight.t(), out=self._buf("h", 2 * B, H)).relu_()
        loss, gd, scale = goodness_and_dz_scale(h, B, cfg.goodness, self.ctx.theta(cfg.hidden[p]), cfg.loss, cfg.symba_alpha)
        gp, gn = gd[:B], gd[B:]
        dz = h.mul_(scale.unsqueeze(1))
        gw = self._bufs.get("gw")
        if gw is None or gw.shape != lin.weight.shape:
            gw = self._bufs["gw"] = torch.empty_like(lin.weight)
            self._bufs["gb"] = torch.empty_like(lin.bias)
        lin.weight.grad = torch.mm(dz.t(), inp, out=gw)
        lin.bias.grad = torch.sum(dz, 0, out=self._bufs["gb"])
        return StepStats(loss, gp.mean(), gn.mean())

    def step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        if self.closed_form():
            return self.hand_written_step(idx, g)
        new_peer: dict[int, torch.Tensor] = {}
        loss, stats = self.autograd_loss(idx, g, new_peer)
        backward(loss, self.params_of_phase(self.phase))
        self.peer.commit(new_peer)
        return stats
