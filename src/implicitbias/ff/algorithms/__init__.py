"""Training algorithms as strategies behind one step protocol (:class:`Algorithm`).

:data:`ALGORITHMS` maps ``FFConfig.algo`` to its class; :func:`make_algorithm` builds it once
per run together with the negative sampler of ``FFConfig.negatives``.
"""

from __future__ import annotations

from implicitbias.ff.algorithms.base import Algorithm, PeerNorm, StepStats
from implicitbias.ff.algorithms.bp import BP
from implicitbias.ff.algorithms.bpff import BPFF, BPFFPerLayer
from implicitbias.ff.algorithms.greedy import GreedyFF
from implicitbias.ff.algorithms.simultaneous import SimultaneousFF
from implicitbias.ff.context import TrainContext
from implicitbias.ff.negatives import Negatives

__all__ = ["Algorithm", "StepStats", "PeerNorm", "ALGORITHMS", "make_algorithm", "GreedyFF", "SimultaneousFF", "BPFF", "BPFFPerLayer", "BP"]

#: ``FFConfig.algo`` → algorithm class (constructed as ``cls(ctx, negatives)``)
ALGORITHMS: dict[str, type] = {
    "ff": GreedyFF,
    "ff-simultaneous": SimultaneousFF,
    "bpff": BPFF,
    "bpff-perlayer": BPFFPerLayer,
    "bp": BP,
}


def make_algorithm(ctx: TrainContext, negatives: Negatives | None) -> Algorithm:
    """The algorithm of ``ctx.cfg.algo`` drawing its negatives from ``negatives`` (BP: None)."""
    return ALGORITHMS[ctx.cfg.algo](ctx, negatives)
