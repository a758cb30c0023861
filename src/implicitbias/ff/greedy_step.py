"""The hand-written greedy FF step of :class:`~implicitbias.ff.trainer.Trainer` (a mixin).

Split from ``trainer.py`` to keep modules small. One step of layer p costs two matrix
products, h = ReLU(x̂Wᵀ + b) and ∂L/∂W = (∂L/∂z)ᵀx̂ (inputs are detached, so no product for
∂L/∂x̂), plus a few row passes; every large tensor of the step lives in a per-phase buffer
reused from step to step (``trainer._bufs``, reset by ``start_phase``). Uses the trainer's
attributes (``x``, ``y``, ``emb``, ``net``, ``cache``, ``neg_img``, ``neg_lab``, ``cfg``, ...).
"""

from __future__ import annotations

import torch

from implicitbias.ff.core import normalize_rows, normalize_rows_
from implicitbias.ff.manual_grad import goodness_and_dz_scale

__all__ = ["GreedyStepMixin"]


class GreedyStepMixin:
    """``_grad_greedy``, the cache of layer inputs and the workspace helpers (see module docstring)."""

    _CHUNK = 4096

    def _layer_into(self, li: int, src: torch.Tensor, tmp: torch.Tensor, dst: torch.Tensor) -> None:
        """``dst`` ← N(ReLU(src W_liᵀ + b_li)) with no temporaries; ``dst`` may alias ``src``.

        Op for op what ``normalize_rows(relu(layer(src)))`` computes (``F.linear`` is this addmm),
        so every cache path gives the same bits for the same chunk of rows.
        """
        lin = self.net.layers[li]
        h = torch.addmm(lin.bias, src, lin.weight.t(), out=tmp).relu_()
        if self.net.norm == "l2":  # the division of normalize_rows, written straight into dst
            torch.div(h, torch.linalg.vector_norm(h, dim=1, keepdim=True).clamp_min_(self.net.eps), out=dst)
        else:
            dst.copy_(normalize_rows_(h, self.net.norm, self.net.eps))

    @torch.inference_mode()
    def _advance_cache(self, p: int, prev: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-p inputs from the layer-(p−1) inputs: N(h_{p−1}) = N(ReLU(W x̂ + b))."""
        width, out = self.cfg.hidden[p - 1], []
        tmp = torch.empty(min(self._CHUNK, prev[0].shape[0]), width, device=self.device)  # reused chunk workspace
        for buf in prev:
            dst = buf if buf.shape[1] == width else torch.empty(buf.shape[0], width, device=self.device)
            for s in range(0, buf.shape[0], self._CHUNK):
                src = buf[s : s + self._CHUNK]
                self._layer_into(p - 1, src, tmp[: src.shape[0]], dst[s : s + self._CHUNK])
            out.append(dst)
        return out[0], out[1]

    @torch.inference_mode()
    def _frozen_input(self, p: int, x: torch.Tensor) -> torch.Tensor:
        """N(h_p) for embedded inputs x through frozen layers 0..p−1 (N(x) for p = 0)."""
        x = normalize_rows(x, self.net.norm, self.net.eps)
        for li in range(p):
            x = normalize_rows(torch.relu(self.net.layers[li](x)), self.net.norm, self.net.eps)
        return x

    @torch.inference_mode()
    def _build_cache(self, p: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-p inputs of all positives (and fixed negatives) from the data, chunk by chunk.

        The same chunks through the same operations as :meth:`_advance_cache` (so a resumed run
        rebuilds the uninterrupted run's cache bit for bit), in reused chunk workspaces.
        """
        C, dev, hidden = self._CHUNK, self.device, self.cfg.hidden
        rows = min(C, self.N)
        emb = torch.empty(rows, self.emb.dim_out, device=dev)
        tmp = [torch.empty(rows, w, device=dev) for w in hidden[:p]]  # pre-normalisation h
        act = [torch.empty(rows, w, device=dev) for w in hidden[: p - 1]]  # normalised h
        sources = [(self.y, None)] + ([(self.neg_lab, self.neg_img)] if self.neg_img is not None else [])
        out = []
        for labels, images in sources:
            dst = torch.empty(self.N, hidden[p - 1], device=dev)
            for s in range(0, self.N, C):
                img = torch.arange(s, min(s + C, self.N), device=dev) if images is None else images[s : s + C]
                r = img.shape[0]
                self._embed_into(emb[:r], img, labels[s : s + C])
                cur = normalize_rows_(emb[:r], self.net.norm, self.net.eps)
                for li in range(p):
                    nxt = dst[s : s + C] if li == p - 1 else act[li][:r]
                    self._layer_into(li, cur, tmp[li][:r], nxt)
                    cur = nxt
            out.append(dst)
        if len(out) == 1:
            out.append(torch.empty(0, hidden[p - 1], device=dev))
        return out[0], out[1]

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

        ∂L/∂z = s[:, None]·h with s from :func:`~implicitbias.ff.manual_grad.goodness_and_dz_scale`,
        ∂L/∂W = (∂L/∂z)ᵀ x̂, ∂L/∂b = Σ_n ∂L/∂z_n.
        The ``.grad`` tensors are per-phase buffers, overwritten by the next call.
        """
        cfg, B = self.cfg, idx.shape[0]
        lin = self.net.layers[p]
        inp = self._greedy_input_fast(p, idx, g)
        H = lin.weight.shape[0]
        h = torch.addmm(lin.bias, inp, lin.weight.t(), out=self._buf("h", 2 * B, H)).relu_()
        loss, gd, scale = goodness_and_dz_scale(h, B, cfg.goodness, self.theta(cfg.hidden[p]), cfg.loss, cfg.symba_alpha)
        gp, gn = gd[:B], gd[B:]
        dz = h.mul_(scale.unsqueeze(1))
        gw = self._bufs.get("gw")
        if gw is None or gw.shape != lin.weight.shape:
            gw = self._bufs["gw"] = torch.empty_like(lin.weight)
            self._bufs["gb"] = torch.empty_like(lin.bias)
        lin.weight.grad = torch.mm(dz.t(), inp, out=gw)
        lin.bias.grad = torch.sum(dz, 0, out=self._bufs["gb"])
        return loss, gp.mean(), gn.mean()
