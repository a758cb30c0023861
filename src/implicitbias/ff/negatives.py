"""Negative data of FF as strategies: one class per ``FFConfig.negatives`` value.

Every sampler implements :class:`Negatives`; :data:`NEGATIVES` maps the config value to the
class and :func:`make_negatives` builds it once per run (no string branches in the loop).

* ``fixed`` (Tosato): N (image, wrong label) pairs drawn once from the N·m combinations
  (m = #seen classes − 1) without replacement, stream ``"fixed-negatives"``; never materialised.
* ``resample`` (loeweX): the batch's own images with a fresh uniform wrong label each batch.
* ``hard`` (Hinton): the batch's images with a wrong label drawn ∝ the softmax predictor's
  probabilities p(k | x) (true and excluded labels masked, +1e-12 on the allowed ones).
* ``hybrid`` (Hinton §3.2, unsupervised): m ⊙ x_a + (1 − m) ⊙ x_b for a random other image
  x_b and a blurred random mask m (:mod:`implicitbias.ff.hybrid`); positives and negatives
  carry the neutral label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch

from implicitbias.ff.context import TrainContext
from implicitbias.ff.hybrid import hybrid_images, hybrid_masks, hybrid_partners
from implicitbias.seeding import torch_generator

__all__ = ["Negatives", "NegativeBatch", "FixedNegatives", "ResampledNegatives", "HardNegatives", "HybridNegatives", "NEGATIVES", "make_negatives"]


@dataclass(frozen=True)
class NegativeBatch:
    """Negatives of one batch: embedded inputs ``x`` ``(B, dim_out)`` and, when the sampler
    computed them, the predictor features ``(B, F)`` of the batch's neutral positives."""

    x: torch.Tensor
    features: torch.Tensor | None = None


class Negatives(Protocol):
    """A negative-data strategy.

    Attributes:
        supervised: labels are embedded (False: positives and negatives carry the neutral label).
        fixed_pairs: ``(images, labels)`` ``(N,)`` of a negative set drawn once (cacheable by
            greedy FF), or None.
    """

    supervised: bool
    fixed_pairs: tuple[torch.Tensor, torch.Tensor] | None

    def pairs(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(image indices, wrong labels) ``(B,)`` of the negatives of batch ``idx``."""
        ...

    def draw(self, idx: torch.Tensor, g: torch.Generator) -> NegativeBatch:
        """The embedded negatives of batch ``idx``."""
        ...

    def positives(self, idx: torch.Tensor) -> torch.Tensor:
        """The embedded positives ``(B, dim_out)`` of batch ``idx``."""
        ...


class _Sampler:
    """Base of the samplers: the context and no fixed negative set."""

    def __init__(self, ctx: TrainContext):
        self.ctx = ctx
        self.fixed_pairs: tuple[torch.Tensor, torch.Tensor] | None = None


class _Labelled(_Sampler):
    """Shared part of the label-based samplers: negatives = embed(image, wrong label)."""

    supervised: ClassVar[bool] = True

    def pairs(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def draw(self, idx: torch.Tensor, g: torch.Generator) -> NegativeBatch:
        img, lab = self.pairs(idx, g)
        return NegativeBatch(self.ctx.emb.embed(self.ctx.x[img], lab))

    def positives(self, idx: torch.Tensor) -> torch.Tensor:
        return self.ctx.emb.embed(self.ctx.x[idx], self.ctx.y[idx])


class FixedNegatives(_Labelled):
    """``fixed``: one (image, wrong label) pair per training image, drawn once."""

    def __init__(self, ctx: TrainContext):
        super().__init__(ctx)
        m = ctx.wrong_table.shape[1]
        combos = torch.randperm(ctx.n * m, generator=torch_generator(ctx.cfg.seed, "fixed-negatives"))[: ctx.n].to(ctx.device)
        img = combos // m
        self.fixed_pairs = (img, ctx.wrong_table[ctx.y[img], combos % m])

    def pairs(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        img, lab = self.fixed_pairs  # type: ignore[misc]
        return img[idx], lab[idx]


class ResampledNegatives(_Labelled):
    """``resample``: the batch's images with fresh uniform wrong labels."""

    def pairs(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return idx, self.ctx.wrong_uniform(self.ctx.y[idx], g)


class HardNegatives(_Labelled):
    """``hard``: wrong labels ∝ the predictor's probabilities; also returns the features."""

    def wrong_labels(self, xb: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Wrong labels ``(B,)`` (never the true or an excluded label) and the features ``(B, F)``."""
        ctx = self.ctx
        feats = ctx.predictor.features(ctx.net, ctx.emb.neutral(xb)).clone()  # type: ignore[union-attr]
        with torch.no_grad():
            p = ctx.predictor.probabilities(feats)  # type: ignore[union-attr]
            allowed = torch.zeros_like(p, dtype=torch.bool)
            allowed.scatter_(1, ctx.wrong_table[y], True)
            p = torch.where(allowed, p + 1e-12, torch.zeros_like(p))
            wrong = torch.multinomial(p, 1, generator=g).squeeze(1)
        return wrong, feats

    def pairs(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return idx, self.wrong_labels(self.ctx.x[idx], self.ctx.y[idx], g)[0]

    def draw(self, idx: torch.Tensor, g: torch.Generator) -> NegativeBatch:
        xb = self.ctx.x[idx]
        wrong, feats = self.wrong_labels(xb, self.ctx.y[idx], g)
        return NegativeBatch(self.ctx.emb.embed(xb, wrong), feats)


class HybridNegatives(_Sampler):
    """``hybrid``: masked mixtures of two images, no label (unsupervised)."""

    supervised: ClassVar[bool] = False

    def pairs(self, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise TypeError("hybrid negatives are not (image, label) pairs")

    def draw(self, idx: torch.Tensor, g: torch.Generator) -> NegativeBatch:
        ctx = self.ctx
        partner = hybrid_partners(idx, ctx.n, g)
        masks = hybrid_masks(idx.shape[0], ctx.shape, ctx.cfg.hybrid_blur_steps, g, ctx.device)
        return NegativeBatch(ctx.emb.neutral(hybrid_images(ctx.x[idx], ctx.x[partner], masks)))

    def positives(self, idx: torch.Tensor) -> torch.Tensor:
        return self.ctx.emb.neutral(self.ctx.x[idx])


#: ``FFConfig.negatives`` → sampler class
NEGATIVES: dict[str, type] = {
    "fixed": FixedNegatives,
    "resample": ResampledNegatives,
    "hard": HardNegatives,
    "hybrid": HybridNegatives,
}


def make_negatives(ctx: TrainContext) -> Negatives:
    """The sampler of ``ctx.cfg.negatives``."""
    return NEGATIVES[ctx.cfg.negatives](ctx)
