"""The training loop of every FF / BP-FF / BP run: phases, epochs, checkpoints, evaluation.

A :class:`Trainer` builds the run's :class:`~implicitbias.ff.context.TrainContext` and its
algorithm (:data:`~implicitbias.ff.algorithms.ALGORITHMS`, with the negative sampler of
:data:`~implicitbias.ff.negatives.NEGATIVES`) once, at construction. Each phase has its own
optimiser over :meth:`Algorithm.params_of_phase`; each epoch draws its batch order and every
other random number from the stream ``("epoch", phase, epoch)``, so a run resumed from a
checkpoint replays the uninterrupted run exactly.

Learning rate at fraction f ∈ [0, 1) of a phase: lr (``constant``), or lr for f < 1/2 and
2·lr·(1 − f) after (``linear_cooldown``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from implicitbias.errors import UserInputError
from implicitbias.ff.algorithms import Algorithm, make_algorithm
from implicitbias.ff.config import FFConfig
from implicitbias.ff.context import build_context
from implicitbias.ff.core import FFNet
from implicitbias.ff.embed import LabelEmbedding
from implicitbias.ff.evaluate import evaluate_model
from implicitbias.ff.negatives import Negatives, make_negatives
from implicitbias.ff.optim import Optimizer

__all__ = ["Trainer", "TrainingDiverged", "Callback"]

#: ``callback(step, model)``: called after every optimizer step of the network with the global
#: step count (1-based, over all phases); a returned mapping of scalars is logged to
#: ``metrics.jsonl`` as ``{"step": step, **mapping, "kind": "callback"}``.
Callback = Callable[[int, nn.Module], Mapping[str, float] | None]


class TrainingDiverged(UserInputError):
    """A loss or weight became NaN/inf; the last good checkpoint is kept."""


class Trainer:
    """Training state of one run (see module docstring).

    Args:
        cfg: a resolved :class:`FFConfig` (:func:`resolve_config`).
        x_train, y_train: ``(N, D)`` float32, ``(N,)`` int64 (normalised, on ``device``).
        shape: image shape ``(C, H, W)`` for the label embedding.
        num_classes: K.
        device: torch device.
        callbacks: :data:`Callback` s called after every optimizer step; their records are
            collected in :attr:`records` (drained by the caller, e.g. into ``metrics.jsonl``).

    Attributes:
        ctx: the shared :class:`~implicitbias.ff.context.TrainContext` (data, network, ...).
        negatives: the negative sampler of ``cfg.negatives`` (None for BP).
        algorithm: the :class:`~implicitbias.ff.algorithms.Algorithm` of ``cfg.algo``.
        phase: the current phase (−1 before :meth:`start_phase`).
        opt: the optimiser of the current phase.
        records: ``(step, record)`` of the callbacks, not yet logged.
    """

    def __init__(
        self,
        cfg: FFConfig,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        shape: tuple[int, int, int],
        num_classes: int,
        device: torch.device,
        callbacks: Sequence[Callback] = (),
    ):
        self.cfg, self.device = cfg, device
        self.ctx = build_context(cfg, x_train, y_train, shape, num_classes, device)
        self.negatives: Negatives | None = None if cfg.algo == "bp" else make_negatives(self.ctx)
        self.algorithm: Algorithm = make_algorithm(self.ctx, self.negatives)
        self.callbacks: tuple[Callback, ...] = tuple(callbacks)
        self.records: list[tuple[int, dict[str, float]]] = []
        self.phase = -1
        self.opt: Optimizer | None = None

    # ---- views of the context used by run.py ---------------------------------------------
    @property
    def net(self) -> FFNet:
        return self.ctx.net

    @property
    def emb(self) -> LabelEmbedding:
        return self.ctx.emb

    @property
    def K(self) -> int:  # noqa: N802 - the number of classes, as in the docs
        return self.ctx.num_classes

    @property
    def N(self) -> int:  # noqa: N802
        return self.ctx.n

    @property
    def bp(self) -> bool:
        """The network has a classification head (BP): no labels in its inputs."""
        return self.ctx.net.head is not None

    @property
    def phases(self) -> int:
        return self.algorithm.phases()

    def gen(self, *keys: object) -> torch.Generator:
        return self.ctx.gen(*keys)

    # ---- the loop ------------------------------------------------------------------------
    def start_phase(self, p: int) -> None:
        """Create the phase's optimiser and let the algorithm prepare phase ``p``."""
        cfg = self.cfg
        self.opt = Optimizer(self.algorithm.params_of_phase(p), cfg.optimizer, float(cfg.lr), cfg.weight_decay, cfg.momentum)  # type: ignore[arg-type]
        self.algorithm.start_phase(p)
        self.phase = p

    def lr_at(self, frac: float) -> float:
        """Learning rate at fraction ``frac`` ∈ [0, 1) of the phase (module docstring)."""
        lr = float(self.cfg.lr)  # type: ignore[arg-type]
        if self.cfg.lr_schedule == "linear_cooldown" and frac >= 0.5:
            return lr * 2.0 * (1.0 - frac)
        return lr

    def _run_callbacks(self, step: int) -> None:
        for cb in self.callbacks:
            rec = cb(step, self.ctx.net)
            if rec is not None:
                self.records.append((step, {str(k): float(v) for k, v in rec.items()}))

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch of the current phase; raises :class:`TrainingDiverged` on NaN/inf."""
        cfg, p, algo, opt = self.cfg, self.phase, self.algorithm, self.opt
        assert opt is not None, "start_phase first"
        bs, E, N = int(cfg.batch_size), int(cfg.epochs), self.N  # type: ignore[arg-type]
        g = self.gen("epoch", p, epoch)
        perm = torch.randperm(N, generator=g, device=self.device)
        nb = math.ceil(N / bs)
        step0 = (p * E + epoch) * nb  # optimizer steps before this epoch
        tot = torch.zeros(3, device=self.device)
        t0 = time.perf_counter()
        for b in range(nb):
            idx = perm[b * bs : (b + 1) * bs]
            opt.lr = self.lr_at((epoch * nb + b) / (E * nb))
            st = algo.step(idx, g)
            opt.step()
            if self.callbacks:
                self._run_callbacks(step0 + b + 1)
            tot += torch.stack([st.loss, st.a, st.b]) * idx.shape[0]
        dt = time.perf_counter() - t0
        loss_m, a, c = (tot / N).tolist()
        where = f"layer {p + 1}" if algo.layerwise else "the network"
        if not math.isfinite(loss_m) or not all(torch.isfinite(q).all() for q in algo.params_of_phase(p)):
            raise TrainingDiverged(f"training diverged (loss {loss_m}) in {where} at epoch {epoch + 1}; the last good checkpoint is kept")
        out = {"phase": p, "layer": p + 1 if algo.layerwise else 0, "epoch": epoch + 1, "loss": loss_m, "time_s": dt,
               "samples_per_s": algo.samples_per_example * N / max(dt, 1e-9)}
        out.update(zip(algo.stat_names, (a, c)[: len(algo.stat_names)], strict=True))
        return out

    def release_training_buffers(self) -> None:
        """Free what only training needs (greedy FF's input cache)."""
        self.algorithm.release()

    # ---- evaluation ----------------------------------------------------------------------
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, layers: int | None = None, probe: bool = False) -> dict[str, Any]:
        """Accuracies of the current network on ``(x, y)``; see :func:`~implicitbias.ff.evaluate.evaluate_model`."""
        supervised = self.negatives is None or self.negatives.supervised
        return evaluate_model(self.ctx, supervised, x, y, layers, probe)

    # ---- checkpoint state ----------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Weights, optimiser states, predictor and algorithm state (peer means) as flat tensors."""
        out = {f"net.{k}": v for k, v in self.ctx.net.state_dict().items()}
        if self.opt is not None:
            out.update(self.opt.state_tensors("opt"))
        if self.ctx.predictor is not None:
            out.update(self.ctx.predictor.state_tensors())
        out.update(self.algorithm.state_tensors())
        return {k: v.detach().clone() for k, v in out.items()}

    def load_state(self, t: dict[str, torch.Tensor], phase: int, restore_opt: bool = True) -> None:
        """Restore :meth:`state_tensors` output and start ``phase`` (optimiser + algorithm).

        ``restore_opt=False`` starts ``phase`` with a fresh optimiser (the checkpoint ended the
        previous greedy phase).
        """
        self.ctx.net.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("net.")})
        if self.ctx.predictor is not None:
            self.ctx.predictor.load_state_tensors(t)
        self.algorithm.load_state_tensors(t)
        self.start_phase(phase)
        if restore_opt:
            self.opt.load_state_tensors(t, "opt")  # type: ignore[union-attr]
