"""The hand-written greedy FF step of :class:`~implicitbias.ff.trainer.Trainer` (a mixin).

Split from ``trainer.py`` to keep modules small. One step of layer p costs two matrix
products, h = ReLU(x̂Wᵀ + b) and ∂L/∂W = (∂L/∂z)ᵀx̂ (inputs are detached, so no product for
∂L/∂x̂), plus a few row passes; every large tensor of the step lives in a per-phase buffer
reused from step to step (``trainer._bufs``, reset by ``start_phase``). Uses the trainer's
attributes (``x``, ``y``, ``emb``, ``net``, ``cache``, ``neg_img``, ``neg_lab``, ``cfg``, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from implicitbias.ff.core import normalize_rows_

__all__ = ["GreedyStepMixin"]


class GreedyStepMixin:
    """``_grad_greedy`` and its workspace helpers (see module docstring)."""

    def _buf(self, name: str, rows: int, cols: int) -> torch.Tensor:
        """A reused ``(rows, cols)`` float32 workspace (first ``rows`` rows of a per-phase buffer).

        Large temporaries on the CPU are fresh ``mmap`` pages every step (page faults, zeroing);
        reusing one buffer per role keeps the step at the cost of its two matrix products.
        """
        b = self._bufs.get(name)
        if b is None or b.shape[0] < rows or b.shape[1] != cols:
            b = self._bufs[name] = torch.empty(rows, cols, device=self.device)
        return b[:rows]

    def _embed_into(self, out: torch.Tensor, img: torch.Tensor, lab: torch.Tensor) -> None:
        """``out`` ← embed(x[img], lab) without temporaries (same values as ``emb.embed``)."""
        e, d = self.emb, self.x.shape[1]
        if e.dim_out == d:
            torch.index_select(self.x, 0, img, out=out)
        else:
            torch.index_select(self.x, 0, img, out=out[:, :d])
            out[:, d:] = 0.0
        out[:, e.slots.reshape(-1)] = 0.0
        rows = torch.arange(out.shape[0], device=out.device).unsqueeze(1)
        out[rows, e.slots[lab]] = e.value

    def _greedy_input_fast(self, p: int, idx: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """:meth:`_greedy_input` written into a reused buffer (bit-identical values)."""
        B = idx.shape[0]
        if p == 0:
            inp = self._buf("inp", 2 * B, self.emb.dim_out)
            self._embed_into(inp[:B], idx, self.y[idx])
            if self.neg_img is not None:
                self._embed_into(inp[B:], self.neg_img[idx], self.neg_lab[idx])
            else:
                self._embed_into(inp[B:], idx, self._wrong_uniform(self.y[idx], g))
            return normalize_rows_(inp, self.net.norm, self.net.eps)
        pos, neg = self.cache  # type: ignore[misc]
        inp = self._buf("inp", 2 * B, pos.shape[1])
        torch.index_select(pos, 0, idx, out=inp[:B])
        if self.neg_img is not None:
            torch.index_select(neg, 0, idx, out=inp[B:])
        else:
            inp[B:] = self._frozen_input(p, self.emb.embed(self.x[idx], self._wrong_uniform(self.y[idx], g)))
        return inp

    @torch.no_grad()
    def _grad_greedy(self, p: int, idx: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Same loss as :meth:`_loss_greedy`, gradient written by hand into ``.grad``.

        With h = ReLU(z), z = x̂Wᵀ + b and c_n = ∂L/∂g_n, every supported goodness has
        ∂g/∂h = a_n·h (l2: 1/g, sumsq: 2, meansq: 2/H), and ReLU's mask is implied by h = 0,
        so ∂L/∂z = (c·a)[:, None]·h, ∂L/∂W = (∂L/∂z)ᵀ x̂, ∂L/∂b = Σ_n ∂L/∂z_n.
        Softplus loss: c⁺ = −σ(θ − g⁺)/2B, c⁻ = σ(g⁻ − θ)/2B; SymBa: c⁺ = −c⁻ = −α σ(−α(g⁺ − g⁻))/B.
        The ``.grad`` tensors are per-phase buffers, overwritten by the next call.
        """
        cfg, B = self.cfg, idx.shape[0]
        lin = self.net.layers[p]
        inp = self._greedy_input_fast(p, idx, g)
        H = lin.weight.shape[0]
        h = torch.addmm(lin.bias, inp, lin.weight.t(), out=self._buf("h", 2 * B, H)).relu_()
        nrm = torch.linalg.vector_norm(h, dim=1)  # ‖h‖₂ in one pass
        gd = {"l2": nrm, "sumsq": nrm.square(), "meansq": nrm.square() / H}[cfg.goodness]
        theta = self.theta(cfg.hidden[p])
        gp, gn = gd[:B], gd[B:]
        if cfg.loss == "softplus":
            loss = torch.cat([F.softplus(theta - gp), F.softplus(gn - theta)]).mean()
            c = torch.cat([-torch.sigmoid(theta - gp), torch.sigmoid(gn - theta)]) / (2 * B)
        else:
            d = -cfg.symba_alpha * (gp - gn)
            loss = F.softplus(d).mean()
            cp = -cfg.symba_alpha * torch.sigmoid(d) / B
            c = torch.cat([cp, -cp])
        a = {"l2": 1.0 / gd.clamp_min(1e-30), "sumsq": torch.full_like(gd, 2.0), "meansq": torch.full_like(gd, 2.0 / H)}[cfg.goodness]
        dz = h.mul_((c * a).unsqueeze(1))
        gw = self._bufs.get("gw")
        if gw is None or gw.shape != lin.weight.shape:
            gw = self._bufs["gw"] = torch.empty_like(lin.weight)
            self._bufs["gb"] = torch.empty_like(lin.bias)
        lin.weight.grad = torch.mm(dz.t(), inp, out=gw)
        lin.bias.grad = torch.sum(dz, 0, out=self._bufs["gb"])
        return loss, gp.mean(), gn.mean()
