r"""Training loops of :mod:`~implicitbias.experiments.validations.symmetry_in_trained_nets` with the imbalances tracked.

One loop per algorithm on a :class:`~implicitbias.ff.core.FFNet` (same layers, same init as the
FF engine): BP (cross-entropy head, no normalisation), greedy FF (layer by layer, inputs = the
frozen, length-normalised outputs below, fixed negatives = image + one wrong label, drawn
once) and BP/FF (end-to-end on the summed goodness), each with ``torch.optim`` SGD (optional
weight decay) or Adam.

Every optimiser step is split exactly (Δ_j is a quadratic form, ``Δ_j(θ) = θᵀ S_j θ``): with
``d = θ_{k+1} − θ_k``,

    Δ_j(θ_{k+1}) − Δ_j(θ_k) = 2 θ_kᵀ S_j d  +  dᵀ S_j d        (first order + second order).

Gradient flow (and SGD without weight decay) has a zero first-order part, because every
(minibatch) gradient is orthogonal to ``S_j θ`` (docs/theory.md §8); SGD with weight decay λ
has first-order part ``−2ηλ Δ_j(θ_k)``; Adam and FF have no such identity. The loop records the
sums of both parts per unit, the weight-decay prediction ``−2ηλ Σ_k Δ_j(θ_k)``, and the
:class:`~implicitbias.symmetry.SymmetryMonitor` history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from implicitbias.analysis.sparsity import hoyer
from implicitbias.ff.core import FFNet, ff_loss, goodness
from implicitbias.ff.embed import make_embedding
from implicitbias.seeding import torch_generator
from implicitbias.symmetry.monitor import SymmetryMonitor

__all__ = ["RunSpec", "train_tracked"]


@dataclass(frozen=True)
class RunSpec:
    """One training run: ``algo`` in {bp, ff, bpff}, ``opt`` in {sgd, adam}."""

    name: str
    algo: str
    opt: str
    lr: float
    epochs: int
    batch: int
    wd: float = 0.0


class _Split:
    """Exact first/second-order split of the change of every paired unit's imbalance."""

    def __init__(self, net: torch.nn.Module, pairs: list[tuple[str, str]], wd: float, lr: float) -> None:
        self.mods = dict(net.named_modules())
        self.pairs, self.c = pairs, 2.0 * lr * wd
        self.first = {a: 0.0 for a, _ in pairs}
        self.second = {a: 0.0 for a, _ in pairs}
        self.wd_pred = {a: 0.0 for a, _ in pairs}

    def _snap(self) -> dict[str, torch.Tensor]:
        out = {}
        for a, b in self.pairs:
            for n in (a, b):
                m = self.mods[n]
                out[n + ".w"], out[n + ".b"] = m.weight.detach().double().clone(), m.bias.detach().double().clone()
        return out

    def before(self) -> None:
        self.old = self._snap()

    def after(self) -> None:
        new = self._snap()
        o = self.old
        for a, b in self.pairs:
            dwa, dba, dwb = new[a + ".w"] - o[a + ".w"], new[a + ".b"] - o[a + ".b"], new[b + ".w"] - o[b + ".w"]
            cross = (o[a + ".w"] * dwa).sum(1) + o[a + ".b"] * dba - (o[b + ".w"] * dwb).sum(0)
            self.first[a] = self.first[a] + 2.0 * cross
            self.second[a] = self.second[a] + dwa.pow(2).sum(1) + dba.pow(2) - dwb.pow(2).sum(0)
            delta = o[a + ".w"].pow(2).sum(1) + o[a + ".b"].pow(2) - o[b + ".w"].pow(2).sum(0)
            self.wd_pred[a] = self.wd_pred[a] - self.c * delta


def _optimizer(spec: RunSpec, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if spec.opt == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, weight_decay=spec.wd)
    return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.wd)


def _mean_hoyer(hs: list[torch.Tensor]) -> list[float]:
    """Mean per-sample Hoyer of each layer; NaN for a layer silent on every sample."""
    out = []
    for h in hs:
        v = hoyer(h.float().cpu().numpy(), axis=1)
        out.append(float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"))
    return out


def train_tracked(
    spec: RunSpec,
    data: dict[str, Any],
    hidden: tuple[int, ...],
    seed: int,
    every: int,
    threshold: float = 3.0,
    goodness_kind: str = "l2",
) -> dict[str, Any]:
    """Train one run; returns the monitor, the exact split, test accuracy and Hoyer per layer.

    Args:
        spec: the run.
        data: ``x_train, y_train, x_test, y_test`` (normalised float32 / int64), ``shape``
            ``(C, H, W)``, ``num_classes``.
        hidden: hidden widths.
        seed: seeds the init, shuffles and negatives.
        every: record the monitor every ``every`` optimiser steps.
    """
    t0 = time.perf_counter()
    x, y, xt, yt, K = data["x_train"], data["y_train"], data["x_test"], data["y_test"], data["num_classes"]
    bp = spec.algo == "bp"
    gen = torch_generator(seed, "symmetry-in-trained-nets", spec.algo)
    emb = make_embedding("auto", data["shape"], K, float(x.max()))
    net = FFNet([x.shape[1], *hidden], "none" if bp else "l2", 1e-12, torch_generator(seed, "init", spec.algo), K if bp else None)
    mon = SymmetryMonitor(net, every=every)
    split = _Split(net, mon.pairs, spec.wd, spec.lr)
    init = {a: v.clone() for a, v in mon.measure().items()}
    scale0 = _orbit_scale(net, mon.pairs)
    if not bp:
        wrong = (y + torch.randint(1, K, y.shape, generator=gen)) % K
        xp, xn = emb.embed(x, y), emb.embed(x, wrong)
    step, n = 0, x.shape[0]
    mon(0, net)
    phases = range(len(hidden)) if spec.algo == "ff" else [None]
    for ph in phases:
        params = list(net.parameters()) if ph is None else list(net.layers[ph].parameters())
        opt = _optimizer(spec, params)
        if ph is not None:  # greedy: cached, detached inputs of layer ph
            with torch.no_grad():
                ip, ineg = xp, xn
                for i in range(ph):
                    ip, ineg = net.layer(i, ip), net.layer(i, ineg)
        for _ in range(spec.epochs):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, spec.batch):
                idx = perm[s : s + spec.batch]
                if bp:
                    loss = F.cross_entropy(net.head(net.forward_all(x[idx])[-1]), y[idx])
                elif ph is None:
                    gp = sum(goodness(h, goodness_kind) for h in net.forward_all(xp[idx]))
                    gn = sum(goodness(h, goodness_kind) for h in net.forward_all(xn[idx]))
                    loss = ff_loss(gp, gn, threshold)
                else:
                    loss = ff_loss(goodness(net.layer(ph, ip[idx]), goodness_kind), goodness(net.layer(ph, ineg[idx]), goodness_kind), threshold)
                opt.zero_grad()
                loss.backward()
                split.before()
                opt.step()
                split.after()
                step += 1
                mon(step, net)
                if not math.isfinite(float(loss.detach())):
                    raise FloatingPointError(f"{spec.name}: loss diverged at step {step}")
    with torch.no_grad():
        if bp:
            hs = net.forward_all(xt)
            acc = float((net.head(hs[-1]).argmax(1) == yt).float().mean())
        else:
            hs = net.forward_all(emb.embed(xt, yt))
            scores = torch.stack([sum(goodness(h, goodness_kind) for h in net.forward_all(emb.embed(xt, torch.full_like(yt, c)))) for c in range(K)], 1)
            acc = float((scores.argmax(1) == yt).float().mean())
    final = mon.measure()
    return {
        "spec": spec, "monitor": mon, "init": init, "final": final, "scale0": scale0, "scale_end": _orbit_scale(net, mon.pairs),
        "first": split.first, "second": split.second, "wd_pred": split.wd_pred, "steps": step,
        "acc": acc, "hoyer": _mean_hoyer(hs), "seconds": time.perf_counter() - t0,
    }


def _orbit_scale(net: torch.nn.Module, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """``‖S_j θ‖² = ‖W_a[j]‖² + b_a[j]² + ‖W_b[:, j]‖²`` per paired unit (float64)."""
    mods = dict(net.named_modules())
    out = {}
    for a, b in pairs:
        la, lb = mods[a], mods[b]
        out[a] = (la.weight.detach().double().pow(2).sum(1) + la.bias.detach().double().pow(2) + lb.weight.detach().double().pow(2).sum(0)).cpu()
    return out
