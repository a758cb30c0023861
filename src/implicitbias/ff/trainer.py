"""The trainers: greedy FF, simultaneous FF, BP/FF (summed or per-layer goodness) and BP.

One :class:`Trainer` holds the network, the optimiser of the current *phase* and every
piece of random state as a pure function of ``(seed, keys)`` (no hidden RNG state), so a run
resumed from a checkpoint replays the uninterrupted run exactly. Phases: greedy ``ff`` has one
phase per layer (``epochs`` each, its own Adam, inputs = frozen outputs of the layers below,
cached once per phase); the other algorithms have a single phase.

Locality: in ``ff`` only layer p's parameters are in the graph (its input is a cached,
detached tensor); in ``ff-simultaneous`` every layer's input is ``detach()``-ed, so the sum of
the local losses has the same gradients as separate per-layer updates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from implicitbias.errors import UserInputError
from implicitbias.ff.config import FFConfig
from implicitbias.ff.core import FFNet, ff_loss, goodness, normalize_rows
from implicitbias.ff.embed import make_embedding
from implicitbias.ff.greedy_step import GreedyStepMixin
from implicitbias.ff.joint_step import JointStepMixin
from implicitbias.ff.manual_grad import CLOSED_FORM_GOODNESS
from implicitbias.ff.negatives import hybrid_images, hybrid_masks, hybrid_partners
from implicitbias.ff.optim import Optimizer
from implicitbias.ff.trainer_io import TrainerIOMixin
from implicitbias.seeding import torch_generator

__all__ = ["Trainer", "TrainingDiverged", "Callback"]

#: ``callback(step, model)``: called after every optimizer step of the network with the global
#: step count (1-based, over all phases); a returned mapping of scalars is logged to
#: ``metrics.jsonl`` as ``{"step": step, "kind": "callback", **mapping}``.
Callback = Callable[[int, nn.Module], Mapping[str, float] | None]


class TrainingDiverged(UserInputError):
    """A loss or weight became NaN/inf; the last good checkpoint is kept."""


class Trainer(TrainerIOMixin, GreedyStepMixin, JointStepMixin):
    """Training state of one run (see module docstring).

    Args:
        cfg: a resolved :class:`FFConfig` (:func:`resolve_config`).
        x_train, y_train: ``(N, D)`` float32, ``(N,)`` int64 (normalised, on ``device``).
        shape: image shape ``(C, H, W)`` for the label embedding.
        num_classes: K.
        device: torch device.
        callbacks: :data:`Callback` s called after every optimizer step; their records are
            collected in :attr:`records` (drained by the caller, e.g. into ``metrics.jsonl``).
    """

    def __init__(self, cfg: FFConfig, x_train: torch.Tensor, y_train: torch.Tensor, shape: tuple[int, int, int], num_classes: int, device: torch.device, callbacks: Sequence[Callback] = ()):
        self.cfg, self.device, self.K = cfg, device, num_classes
        self.callbacks: tuple[Callback, ...] = tuple(callbacks)
        self.records: list[tuple[int, dict[str, float]]] = []  # (step, callback record) not yet logged
        self.shape: tuple[int, int, int] = (int(shape[0]), int(shape[1]), int(shape[2]))  # of the hybrid masks
        seen = [c for c in range(num_classes) if c not in cfg.exclude_classes]
        if len(seen) < 2:
            raise UserInputError("at least two classes must remain after exclude_classes")
        keep = torch.isin(y_train, torch.tensor(seen, device=y_train.device))
        if bool(keep.all()):  # no copy of the training set when nothing is held out
            self.x, self.y = x_train.contiguous(), y_train.contiguous()
        else:
            self.x, self.y = x_train[keep].contiguous(), y_train[keep].contiguous()
        self.N = int(self.x.shape[0])
        self.bp = cfg.algo == "bp"
        value = float(self.x.max()) if cfg.label_value == "batch_max" else float(cfg.label_constant)
        self.emb = make_embedding(cfg.embed, shape, num_classes, value).to(device)
        d_in = self.x.shape[1] if self.bp else self.emb.dim_out
        dims = [d_in, *cfg.hidden]
        norm = "none" if self.bp else cfg.layer_norm
        self.net = FFNet(dims, norm, cfg.norm_eps, torch_generator(cfg.seed, "init"), num_classes if self.bp else None).to(device)
        # wrong-label table: row y lists the allowed wrong labels (seen classes except y)
        seen_t = torch.tensor(seen)
        self.wrong_table = torch.stack(
            [seen_t[seen_t != c] if c in seen else seen_t[: len(seen) - 1] for c in range(num_classes)]
        ).to(device)
        self.m = len(seen) - 1
        self.neg_img = self.neg_lab = None
        if not self.bp and cfg.negatives == "fixed":
            g = torch_generator(cfg.seed, "fixed-negatives")
            combos = torch.randperm(self.N * self.m, generator=g)[: self.N].to(device)
            self.neg_img = combos // self.m
            self.neg_lab = self.wrong_table[self.y[self.neg_img], combos % self.m]
        self.skip = 1 if (cfg.eval_skip_first and len(cfg.hidden) > 1) else 0
        self.predictor: nn.Linear | None = None
        self.pred_opt: Optimizer | None = None
        if not self.bp and (cfg.negatives == "hard" or cfg.eval_rule == "probe"):
            self.predictor = nn.Linear(sum(cfg.hidden[self.skip :]), num_classes).to(device)
            nn.init.zeros_(self.predictor.weight)
            nn.init.zeros_(self.predictor.bias)
            self.pred_opt = Optimizer(list(self.predictor.parameters()), "adam", cfg.probe_lr)
        self.peer = [torch.zeros(h, device=device) for h in cfg.hidden] if cfg.peer_norm > 0 else []
        self.phases = len(cfg.hidden) if cfg.algo == "ff" else 1
        self.phase = -1
        self.opt: Optimizer | None = None
        self.cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self._bufs: dict[str, torch.Tensor] = {}  # per-phase workspaces of the hand-written step

    # ---- helpers ----------------------------------------------------------------------
    def gen(self, *keys: object) -> torch.Generator:
        return torch_generator(self.cfg.seed, *keys, device=self.device)

    def theta(self, width: int) -> float:
        return self.cfg.threshold * width if self.cfg.threshold_per_unit else self.cfg.threshold

    def phase_params(self, p: int) -> list[nn.Parameter]:
        return list(self.net.layers[p].parameters()) if self.cfg.algo == "ff" else list(self.net.parameters())

    def start_phase(self, p: int) -> None:
        """Create the phase's optimiser and, for greedy FF, the cache of layer-p inputs.

        Moving on from phase p − 1 the cache is advanced by one layer (in place when the widths
        match); after a resume it is rebuilt from the data. Both give the same bits: the same
        chunks go through the same operations.
        """
        cfg = self.cfg
        self.opt = Optimizer(self.phase_params(p), cfg.optimizer, float(cfg.lr), cfg.weight_decay, cfg.momentum)  # type: ignore[arg-type]
        prev, self.cache = (self.cache if self.phase == p - 1 else None), None
        self.phase = p
        self._bufs = {}
        if cfg.algo == "ff" and p > 0:
            self.cache = self._advance_cache(p, prev) if prev is not None else self._build_cache(p)

    def _wrong_uniform(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        r = torch.randint(0, self.m, y.shape, generator=g, device=self.device)
        return self.wrong_table[y, r]

    @torch.inference_mode()
    def probe_features(self, x_emb: torch.Tensor) -> torch.Tensor:
        """Concatenated normalised activities of layers ``skip..L−1`` for embedded inputs."""
        hs = self.net.forward_all(x_emb)
        return torch.cat([normalize_rows(h, "l2", 1e-12) for h in hs[self.skip :]], dim=1)

    def _hard_wrong(self, xb: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Wrong labels ∝ predictor probabilities (true and excluded labels masked) + features."""
        feats = self.probe_features(self.emb.neutral(xb)).clone()
        with torch.no_grad():
            p = torch.softmax(self.predictor(feats), dim=1)  # type: ignore[misc]
            allowed = torch.zeros_like(p, dtype=torch.bool)
            allowed.scatter_(1, self.wrong_table[y], True)
            p = torch.where(allowed, p + 1e-12, torch.zeros_like(p))
            wrong = torch.multinomial(p, 1, generator=g).squeeze(1)
        return wrong, feats

    def _peer_loss(self, li: int, h_pos: torch.Tensor, new: dict[int, torch.Tensor]) -> torch.Tensor:
        m = self.cfg.peer_momentum
        rm = m * self.peer[li] + (1 - m) * h_pos.mean(0)
        new[li] = rm.detach()
        return self.cfg.peer_norm * (rm.mean() - rm).pow(2).mean()

    # ---- losses -----------------------------------------------------------------------
    def _greedy_input(self, p: int, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Normalised layer-p input ``(2B, D_p)``: positives then negatives."""
        if p == 0:
            xp = self.emb.embed(self.x[idx], self.y[idx])
            if self.neg_img is not None:
                xn = self.emb.embed(self.x[self.neg_img[idx]], self.neg_lab[idx])
            else:
                xn = self.emb.embed(self.x[idx], self._wrong_uniform(self.y[idx], g))
            return normalize_rows(torch.cat([xp, xn]), self.net.norm, self.net.eps)
        pos, neg = self.cache  # type: ignore[misc]
        B = idx.shape[0]
        inp = torch.empty(2 * B, pos.shape[1], device=self.device)
        torch.index_select(pos, 0, idx, out=inp[:B])
        if self.neg_img is not None:
            torch.index_select(neg, 0, idx, out=inp[B:])
        else:
            xn = self.emb.embed(self.x[idx], self._wrong_uniform(self.y[idx], g))
            inp[B:] = self._frozen_input(p, xn)
        return inp

    #: use the hand-written gradients of greedy ``ff`` / ``ff-simultaneous`` where they apply
    #: (same math as autograd, tested against it; set False to force the autograd path)
    hand_written: bool = True

    def _manual_ok(self) -> bool:
        c = self.cfg
        return self.hand_written and c.goodness in CLOSED_FORM_GOODNESS and not self.peer

    def _loss_greedy(self, p: int, idx: torch.Tensor, g: torch.Generator, new_peer: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer-p FF loss with autograd (any goodness, peer normalisation)."""
        B = idx.shape[0]
        h = F.relu(self.net.layers[p](self._greedy_input(p, idx, g)))
        gd = goodness(h, self.cfg.goodness)
        loss = ff_loss(gd[:B], gd[B:], self.theta(self.cfg.hidden[p]), self.cfg.loss, self.cfg.symba_alpha)
        if self.peer:
            loss = loss + self._peer_loss(p, h[:B], new_peer)
        return loss, gd[:B].detach().mean(), gd[B:].detach().mean()

    def _loss_joint(self, idx: torch.Tensor, g: torch.Generator, new_peer: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg, B = self.cfg, idx.shape[0]
        xb, yb = self.x[idx], self.y[idx]
        if cfg.negatives == "hybrid":  # unsupervised (Hinton §3.2): m ⊙ x + (1 − m) ⊙ x_other, no label
            partner = hybrid_partners(idx, self.N, g)
            masks = hybrid_masks(B, self.shape, cfg.hybrid_blur_steps, g, self.device)
            xn = self.emb.neutral(hybrid_images(xb, self.x[partner], masks))
        elif self.neg_img is not None:
            xn = self.emb.embed(self.x[self.neg_img[idx]], self.neg_lab[idx])
        elif cfg.negatives == "hard":
            wrong, feats = self._hard_wrong(xb, yb, g)
            xn = self.emb.embed(xb, wrong)
            self._train_predictor(feats, yb)
        else:
            xn = self.emb.embed(xb, self._wrong_uniform(yb, g))
        if self.predictor is not None and cfg.negatives != "hard":
            self._train_predictor(self.probe_features(self.emb.neutral(xb)).clone(), yb)
        xp = self.emb.neutral(xb) if cfg.negatives == "hybrid" else self.emb.embed(xb, yb)
        if self.hand_written and cfg.algo == "ff-simultaneous" and cfg.goodness in CLOSED_FORM_GOODNESS:
            return self._grad_joint(torch.cat([xp, xn]), new_peer)  # hand-written gradient, same math
        hs = self.net.forward_all(torch.cat([xp, xn]), detach=cfg.algo == "ff-simultaneous")
        gs = [goodness(h, cfg.goodness) for h in hs]
        if cfg.algo == "bpff":
            gsum = torch.stack(gs).sum(0)
            loss = ff_loss(gsum[:B], gsum[B:], self.theta(sum(cfg.hidden)), cfg.loss, cfg.symba_alpha)
        else:
            loss = sum(
                ff_loss(gl[:B], gl[B:], self.theta(w), cfg.loss, cfg.symba_alpha) for gl, w in zip(gs, cfg.hidden, strict=True)
            )
            gsum = torch.stack(gs).sum(0)
        for li, h in enumerate(hs) if self.peer else ():
            loss = loss + self._peer_loss(li, h[:B], new_peer)
        return loss, gsum[:B].detach().mean(), gsum[B:].detach().mean()  # type: ignore[return-value]

    def _train_predictor(self, feats: torch.Tensor, y: torch.Tensor) -> None:
        with torch.enable_grad():
            loss = F.cross_entropy(self.predictor(feats), y)  # type: ignore[misc]
            self.pred_opt.zero_grad()  # type: ignore[union-attr]
            loss.backward()
            self.pred_opt.step()  # type: ignore[union-attr]

    def _loss_bp(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hs = self.net.forward_all(self.x[idx])
        logits = self.net.head(hs[-1])  # type: ignore[misc]
        ce = F.cross_entropy(logits, self.y[idx])
        loss = ce
        if self.cfg.l1_activity > 0:
            loss = loss + self.cfg.l1_activity * sum(h.abs().sum(1).mean() for h in hs)
        return loss, ce.detach(), torch.zeros((), device=self.device)

    def _run_callbacks(self, step: int) -> None:
        for cb in self.callbacks:
            rec = cb(step, self.net)
            if rec is not None:
                self.records.append((step, {str(k): float(v) for k, v in rec.items()}))

    # ---- epochs -----------------------------------------------------------------------
    def lr_at(self, frac: float) -> float:
        """Learning rate at fraction ``frac`` ∈ [0, 1) of the phase."""
        lr = float(self.cfg.lr)  # type: ignore[arg-type]
        if self.cfg.lr_schedule == "linear_cooldown" and frac >= 0.5:
            return lr * 2.0 * (1.0 - frac)
        return lr

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch of the current phase; raises :class:`TrainingDiverged` on NaN/inf."""
        cfg, p = self.cfg, self.phase
        bs = int(cfg.batch_size)  # type: ignore[arg-type]
        g = self.gen("epoch", p, epoch)
        perm = torch.randperm(self.N, generator=g, device=self.device)
        nb = math.ceil(self.N / bs)
        step0 = (p * int(cfg.epochs) + epoch) * nb  # type: ignore[arg-type]  # optimizer steps before this epoch
        tot = torch.zeros(3, device=self.device)
        t0 = time.perf_counter()
        for b in range(nb):
            idx = perm[b * bs : (b + 1) * bs]
            self.opt.lr = self.lr_at((epoch * nb + b) / (int(cfg.epochs) * nb))  # type: ignore[union-attr,arg-type]
            new_peer: dict[int, torch.Tensor] = {}
            if self.bp:
                loss, a, c = self._loss_bp(idx)
            elif cfg.algo == "ff" and self._manual_ok():
                loss, a, c = self._grad_greedy(p, idx, g)
            elif cfg.algo == "ff":
                loss, a, c = self._loss_greedy(p, idx, g, new_peer)
            else:
                loss, a, c = self._loss_joint(idx, g, new_peer)
            if loss.requires_grad:
                self.opt.zero_grad()  # type: ignore[union-attr]
                loss.backward()
            self.opt.step()  # type: ignore[union-attr]
            for li, v in new_peer.items():
                self.peer[li] = v
            if self.callbacks:
                self._run_callbacks(step0 + b + 1)
            tot += torch.stack([loss.detach(), a, c]) * idx.shape[0]
        dt = time.perf_counter() - t0
        loss_m, gp, gn = (tot / self.N).tolist()
        where = f"layer {p + 1}" if cfg.algo == "ff" else "the network"
        if not math.isfinite(loss_m) or not all(torch.isfinite(q).all() for q in self.phase_params(p)):
            raise TrainingDiverged(f"training diverged (loss {loss_m}) in {where} at epoch {epoch + 1}; the last good checkpoint is kept")
        n_seen = self.N if self.bp else 2 * self.N
        out = {"phase": p, "layer": p + 1 if cfg.algo == "ff" else 0, "epoch": epoch + 1, "loss": loss_m, "time_s": dt, "samples_per_s": n_seen / max(dt, 1e-9)}
        out.update({"ce": gp} if self.bp else {"g_pos": gp, "g_neg": gn})
        return out
