"""The step protocol of the training algorithms and the parts they share.

An :class:`Algorithm` splits training into phases (greedy FF: one per layer; the others: one)
and, for one batch, writes the gradient of its loss into the ``.grad`` of
:meth:`~Algorithm.params_of_phase` and returns detached :class:`StepStats`; the trainer owns
the optimiser, the loop, checkpoints and evaluation.

Peer normalisation (Hinton / loeweX), per layer l with running positive mean r_l ``(H,)``:
    r_l ← μ r_l + (1 − μ) mean_b h⁺_b,     loss += λ · mean_j (mean(r_l) − r_{l,j})².
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch
from torch import nn

from implicitbias.ff.context import TrainContext
from implicitbias.ff.core import ff_loss, goodness
from implicitbias.ff.negatives import Negatives

__all__ = ["Algorithm", "StepStats", "PeerNorm", "PeerAlgorithm", "OnePhase", "backward", "joint_batch", "ff_objective"]


@dataclass(frozen=True)
class StepStats:
    """Detached scalars of one step: the loss and two statistics named by the algorithm's
    ``stat_names`` (FF: mean goodness of positives / negatives; BP: cross-entropy, 0)."""

    loss: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor


class Algorithm(Protocol):
    """A training algorithm (one class per ``FFConfig.algo``, see :data:`ALGORITHMS`).

    Attributes:
        layerwise: phases are layers (greedy FF: epochs per layer, evaluation of the first
            p + 1 layers after phase p).
        stat_names: metric names of :attr:`StepStats.a` / ``.b``.
        samples_per_example: network rows per training example (FF 2: positive + negative).
    """

    layerwise: ClassVar[bool]
    stat_names: ClassVar[tuple[str, ...]]
    samples_per_example: ClassVar[int]

    def phases(self) -> int:
        """Number of training phases."""
        ...

    def params_of_phase(self, p: int) -> list[nn.Parameter]:
        """The parameters trained in phase ``p`` (one optimiser per phase)."""
        ...

    def start_phase(self, p: int) -> None:
        """Prepare phase ``p`` (greedy FF: the cache of layer-p inputs)."""
        ...

    def step(self, idx: torch.Tensor, g: torch.Generator) -> StepStats:
        """Gradient of the loss of batch ``idx`` ``(B,)`` into ``.grad``; ``g`` is the epoch's stream."""
        ...

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Algorithm state to checkpoint (peer means), flat."""
        ...

    def load_state_tensors(self, t: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_tensors`."""
        ...

    def release(self) -> None:
        """Drop training-only buffers (after the last phase)."""
        ...


class PeerNorm:
    """Running positive means and the peer-normalisation loss (module docstring).

    Args:
        widths: hidden widths.
        lam: λ (0 = off: :attr:`active` is False and nothing is stored).
        momentum: μ.
        device: torch device.
    """

    def __init__(self, widths: tuple[int, ...], lam: float, momentum: float, device: torch.device):
        self.lam, self.momentum = lam, momentum
        self.running: list[torch.Tensor] = [torch.zeros(h, device=device) for h in widths] if lam > 0 else []

    @property
    def active(self) -> bool:
        return bool(self.running)

    def loss(self, li: int, h_pos: torch.Tensor, new: dict[int, torch.Tensor]) -> torch.Tensor:
        """λ·mean_j (r̄ − r_j)² with the updated mean r (autograd); puts r (detached) in ``new``."""
        rm = self.momentum * self.running[li] + (1 - self.momentum) * h_pos.mean(0)
        new[li] = rm.detach()
        return self.lam * (rm.mean() - rm).pow(2).mean()

    def commit(self, new: dict[int, torch.Tensor]) -> None:
        """Adopt the running means computed in a step."""
        for li, v in new.items():
            self.running[li] = v

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return {f"peer.{i}": v for i, v in enumerate(self.running)}

    def load_state_tensors(self, t: dict[str, torch.Tensor]) -> None:
        self.running = [t[f"peer.{i}"].to(v.device) for i, v in enumerate(self.running)]


class PeerAlgorithm:
    """Base of the algorithms: the context, the negative sampler and the peer-mean state
    (checkpointed as ``peer.{l}``; inactive when ``uses_peer`` is False or λ = 0)."""

    uses_peer: ClassVar[bool] = True

    def __init__(self, ctx: TrainContext, negatives: Negatives | None):
        self.ctx, self.negatives = ctx, negatives
        lam = ctx.cfg.peer_norm if self.uses_peer else 0.0
        self.peer = PeerNorm(ctx.cfg.hidden, lam, ctx.cfg.peer_momentum, ctx.device)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.peer.state_tensors()

    def load_state_tensors(self, t: dict[str, torch.Tensor]) -> None:
        self.peer.load_state_tensors(t)


class OnePhase(PeerAlgorithm):
    """Base of the algorithms that train every parameter in a single phase."""

    layerwise: ClassVar[bool] = False

    def phases(self) -> int:
        return 1

    def params_of_phase(self, p: int) -> list[nn.Parameter]:
        return list(self.ctx.net.parameters())

    def start_phase(self, p: int) -> None:
        return None

    def release(self) -> None:
        return None


def backward(loss: torch.Tensor, params: list[nn.Parameter]) -> None:
    """``.grad`` ← ∂loss/∂params (old gradients dropped first)."""
    for q in params:
        q.grad = None
    loss.backward()


def joint_batch(ctx: TrainContext, negatives: Negatives, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Embedded ``(2B, dim_out)`` batch, positives then negatives, for the one-pass algorithms.

    Also takes the predictor's training step on this batch (features of the neutral positives,
    computed by the hard-negative sampler when it drew them).
    """
    neg = negatives.draw(idx, g)
    if ctx.predictor is not None:
        feats = neg.features
        if feats is None:
            feats = ctx.predictor.features(ctx.net, ctx.emb.neutral(ctx.x[idx])).clone()
        ctx.predictor.train_step(feats, ctx.y[idx])
    return torch.cat([negatives.positives(idx), neg.x])


def ff_objective(
    ctx: TrainContext, peer: PeerNorm, hs: list[torch.Tensor], summed: bool, new_peer: dict[int, torch.Tensor]
) -> tuple[torch.Tensor, StepStats]:
    """FF loss of the activities ``hs`` of a ``(2B, ·)`` batch (positives first), with graph.

    ``summed``: one FF loss on G = Σ_l g_l with θ of Σ widths (``bpff``); otherwise Σ_l of the
    per-layer FF losses. Plus the peer terms of every layer when peer normalisation is on.
    Returns the loss and the stats (mean of G over positives / negatives).
    """
    cfg, B = ctx.cfg, hs[0].shape[0] // 2
    gs = [goodness(h, cfg.goodness) for h in hs]
    gsum = torch.stack(gs).sum(0)
    if summed:
        loss = ff_loss(gsum[:B], gsum[B:], ctx.theta(sum(cfg.hidden)), cfg.loss, cfg.symba_alpha)
    else:
        loss = sum(ff_loss(gl[:B], gl[B:], ctx.theta(w), cfg.loss, cfg.symba_alpha) for gl, w in zip(gs, cfg.hidden, strict=True))
    for li, h in enumerate(hs) if peer.active else ():
        loss = loss + peer.loss(li, h[:B], new_peer)
    return loss, StepStats(loss.detach(), gsum[:B].detach().mean(), gsum[B:].detach().mean())  # type: ignore[union-attr]
