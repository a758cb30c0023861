"""Greedy FF's cache of layer inputs: N(h_{p−1}) of every positive (and fixed negative).

Moving from phase p − 1 to p the cache is *advanced* by one layer,
    N(h_p) = N(ReLU(W_{p−1} N(h_{p−1}) + b_{p−1})),
in place when the widths match; after a resume it is *rebuilt* from the data through the
frozen layers 0..p−1. Both run the same chunks (``CHUNK`` rows) through the same operations,
so they give the same bits (tested), and :meth:`InputCache.frozen_input` is the plain reference
N(ReLU(layer(…))) they equal to rounding.
"""

from __future__ import annotations

import torch

from implicitbias.ff.context import TrainContext
from implicitbias.ff.core import normalize_rows, normalize_rows_

__all__ = ["InputCache"]


class InputCache:
    """Layer-p inputs of all positives ``(N, H_{p−1})`` and fixed negatives (``(0, H)`` if none).

    Args:
        ctx: the training context (data, embedding, network).
        fixed_pairs: ``(images, labels)`` of fixed negatives, or None.

    Attributes:
        layer: the layer whose inputs are cached (−1: empty).
        CHUNK: rows per chunk of the cache computations.
    """

    CHUNK = 4096

    def __init__(self, ctx: TrainContext, fixed_pairs: tuple[torch.Tensor, torch.Tensor] | None):
        self.ctx, self.fixed_pairs = ctx, fixed_pairs
        self.layer = -1
        self._data: tuple[torch.Tensor, torch.Tensor] | None = None

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(positives, fixed negatives) of the cached layer (p ≥ 1)."""
        if self._data is None:
            raise RuntimeError("the input cache is empty (layer 0 reads the data directly)")
        return self._data

    def clear(self) -> None:
        self._data, self.layer = None, -1

    def move_to(self, p: int) -> None:
        """Cache the inputs of layer ``p``: advanced from layer p − 1's when cached, else built."""
        prev = self._data if self.layer == p - 1 else None
        self._data = None
        if p > 0:
            self._data = self.advance(p, prev) if prev is not None else self.build(p)
        self.layer = p

    def _layer_into(self, li: int, src: torch.Tensor, tmp: torch.Tensor, dst: torch.Tensor) -> None:
        """``dst`` ← N(ReLU(src W_liᵀ + b_li)) with no temporaries; ``dst`` may alias ``src``.

        Op for op what ``normalize_rows(relu(layer(src)))`` computes (``F.linear`` is this addmm),
        so every cache path gives the same bits for the same chunk of rows.
        """
        net = self.ctx.net
        lin = net.layers[li]
        h = torch.addmm(lin.bias, src, lin.weight.t(), out=tmp).relu_()
        if net.norm == "l2":  # the division of normalize_rows, written straight into dst
            torch.div(h, torch.linalg.vector_norm(h, dim=1, keepdim=True).clamp_min_(net.eps), out=dst)
        else:
            dst.copy_(normalize_rows_(h, net.norm, net.eps))

    @torch.inference_mode()
    def advance(self, p: int, prev: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-p inputs from the layer-(p−1) inputs ``prev`` (overwritten when widths match)."""
        C, dev = self.CHUNK, self.ctx.device
        width, out = self.ctx.cfg.hidden[p - 1], []
        tmp = torch.empty(min(C, prev[0].shape[0]), width, device=dev)  # reused chunk workspace
        for buf in prev:
            dst = buf if buf.shape[1] == width else torch.empty(buf.shape[0], width, device=dev)
            for s in range(0, buf.shape[0], C):
                src = buf[s : s + C]
                self._layer_into(p - 1, src, tmp[: src.shape[0]], dst[s : s + C])
            out.append(dst)
        return out[0], out[1]

    @torch.inference_mode()
    def build(self, p: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-p inputs from the data, chunk by chunk, in reused chunk workspaces."""
        ctx, C = self.ctx, self.CHUNK
        dev, hidden, net, N = ctx.device, ctx.cfg.hidden, ctx.net, ctx.n
        rows = min(C, N)
        emb = torch.empty(rows, ctx.emb.dim_out, device=dev)
        tmp = [torch.empty(rows, w, device=dev) for w in hidden[:p]]  # pre-normalisation h
        act = [torch.empty(rows, w, device=dev) for w in hidden[: p - 1]]  # normalised h
        sources: list[tuple[torch.Tensor, torch.Tensor | None]] = [(ctx.y, None)]
        if self.fixed_pairs is not None:
            sources.append((self.fixed_pairs[1], self.fixed_pairs[0]))
        out = []
        for labels, images in sources:
            dst = torch.empty(N, hidden[p - 1], device=dev)
            for s in range(0, N, C):
                img = torch.arange(s, min(s + C, N), device=dev) if images is None else images[s : s + C]
                r = img.shape[0]
                ctx.embed_into(emb[:r], img, labels[s : s + C])
                cur = normalize_rows_(emb[:r], net.norm, net.eps)
                for li in range(p):
                    nxt = dst[s : s + C] if li == p - 1 else act[li][:r]
                    self._layer_into(li, cur, tmp[li][:r], nxt)
                    cur = nxt
            out.append(dst)
        if len(out) == 1:
            out.append(torch.empty(0, hidden[p - 1], device=dev))
        return out[0], out[1]

    @torch.inference_mode()
    def frozen_input(self, p: int, x: torch.Tensor) -> torch.Tensor:
        """N(h_p) for embedded inputs ``x`` through the frozen layers 0..p−1 (N(x) for p = 0)."""
        net = self.ctx.net
        x = normalize_rows(x, net.norm, net.eps)
        for li in range(p):
            x = normalize_rows(torch.relu(net.layers[li](x)), net.norm, net.eps)
        return x
