"""Network catalogue entries: bias-free shallow ReLU net and single-head attention.

The predictor is the network output on a fixed, seeded probe set (enough probes that the
Jacobian has full rank modulo the symmetry).

* ``relu_net(d_in, h, d_out)``: ``f(x) = W2 relu(W1 x)``; group ``(R_{>0})^h`` acting by
  ``(w_j, v_j) -> (l w_j, v_j / l)`` (row ``j`` of ``W1``, column ``j`` of ``W2``);
  ``R = (T/2) sum_j log(||w_j|| ||v_j||)``.
* ``attention(d_emb, d_head)``: ``softmax(X Wq (X Wk)^T / sqrt(d_head)) X Wv [Wo]``; full
  group ``GL(d_head)`` on ``(Wq, Wk) -> (Wq A, Wk A^{-T})`` (+ ``GL(d_head)`` on
  ``(Wv, Wo) -> (Wv B, B^{-1} Wo)`` with ``out_proj``). Closed form: the factorization
  formula on the singular values of ``Wq Wk^T`` (and of ``Wv Wo``). With
  ``subgroup="columns"`` (the paper's Fig. 3): ``R = (T/2) sum_j log(||q_j|| ||k_j||)``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from implicitbias.seeding import torch_generator
from implicitbias.symmetry.algebra import SymmetryAlgebra
from implicitbias.symmetry.catalog.base import (
    F64,
    CatalogEntry,
    block_generator,
    left_mult,
    right_mult,
    unit,
)
from implicitbias.symmetry.catalog.linear import spectral_bias_unit
from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["relu_net", "attention"]


def relu_net(d_in: int, hidden: int, d_out: int, n_probe: int | None = None, seed: int = 0) -> CatalogEntry:
    """Bias-free shallow ReLU network on a seeded probe set ``X`` (``(n_probe, d_in)``)."""
    dim = hidden * (d_in + d_out)
    n_probe = n_probe or (2 * dim) // d_out + 16
    x = torch.randn(n_probe, d_in, generator=torch_generator(seed, "relu-probes"), dtype=F64)

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        w1, w2 = q["W1"], q["W2"]
        return torch.relu(x.to(w1.dtype) @ w1.transpose(-1, -2)) @ w2.transpose(-1, -2)

    p = Parametrization(fn, {"W1": (hidden, d_in), "W2": (d_out, hidden)},
                        name=f"relu_net({d_in}, {hidden}, {d_out})")
    gens, gnames = [], []
    for j in range(hidden):
        e = unit(hidden, j, j)
        gens.append(block_generator(p, {"W1": left_mult((hidden, d_in), e),
                                        "W2": right_mult((d_out, hidden), -e)}))
        gnames.append(f"rescale W1[{j},:] up, W2[:,{j}] down")
    alg = SymmetryAlgebra(torch.stack(gens), p, gnames)

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        q = p.unflatten(th)
        nw = q["W1"].norm(dim=-1)  # (..., hidden)
        nv = q["W2"].norm(dim=-2)
        return 0.5 * torch.log(nw * nv).sum(-1)

    return CatalogEntry(
        name=p.name, parametrization=p, algebra=alg, full_dim=hidden,
        formula="(T/2) sum_j log(|w_j| |v_j|)", bias_unit=bias_unit, group=f"(R>0)^{hidden}",
        extra={"probes": x},
    )


def attention(
    d_emb: int,
    d_head: int,
    out_proj: bool = False,
    subgroup: Literal["full", "columns"] = "full",
    n_seq: int = 8,
    n_batch: int | None = None,
    seed: int = 0,
) -> CatalogEntry:
    """Single-head scaled dot-product attention on a seeded probe batch ``(n_batch, n_seq, d_emb)``."""
    if subgroup not in ("full", "columns"):
        raise ValueError("subgroup must be 'full' or 'columns'")
    d_out = d_emb if out_proj else d_head
    shapes = {"Wq": (d_emb, d_head), "Wk": (d_emb, d_head), "Wv": (d_emb, d_head)}
    if out_proj:
        shapes["Wo"] = (d_head, d_emb)
    dim = sum(a * b for a, b in shapes.values())
    n_batch = n_batch or dim // (n_seq * d_out) + 2
    # probes ~ N(0, 1/d_emb): O(1) scores at O(1) weights (a saturated softmax would make
    # the Jacobian ill-conditioned and hide the symmetry in numerical noise)
    x = torch.randn(n_batch, n_seq, d_emb, generator=torch_generator(seed, "attention-probes"), dtype=F64)
    x = x / math.sqrt(d_emb)
    scale = 1.0 / math.sqrt(d_head)

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        xx = x.to(q["Wq"].dtype)
        qq, kk, vv = xx @ q["Wq"], xx @ q["Wk"], xx @ q["Wv"]
        att = torch.softmax(scale * qq @ kk.transpose(-1, -2), dim=-1)
        out = att @ vv
        return out @ q["Wo"] if out_proj else out

    tag = ", out_proj" if out_proj else ""
    tag += ", columns" if subgroup == "columns" else ""
    p = Parametrization(fn, shapes, name=f"attention({d_emb}, {d_head}{tag})")
    gens, gnames = [], []
    pairs = [(i, i) for i in range(d_head)] if subgroup == "columns" else [
        (i, j) for i in range(d_head) for j in range(d_head)]
    for i, j in pairs:
        e = unit(d_head, i, j)
        gens.append(block_generator(p, {"Wq": right_mult((d_emb, d_head), e),
                                        "Wk": right_mult((d_emb, d_head), -e.T)}))
        gnames.append(f"Q/K: Wq[:,{j}] += Wq[:,{i}], Wk[:,{i}] -= Wk[:,{j}]")
    if out_proj:
        for i, j in pairs:
            e = unit(d_head, i, j)
            gens.append(block_generator(p, {"Wv": right_mult((d_emb, d_head), e),
                                            "Wo": left_mult((d_head, d_emb), -e)}))
            gnames.append(f"V/O: Wv[:,{j}] += Wv[:,{i}], Wo[{i},:] -= Wo[{j},:]")
    alg = SymmetryAlgebra(torch.stack(gens), p, gnames)

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        q = p.unflatten(th)
        if subgroup == "columns":
            r = 0.5 * torch.log(q["Wq"].norm(dim=-2) * q["Wk"].norm(dim=-2)).sum(-1)
            if out_proj:
                r = r + 0.5 * torch.log(q["Wv"].norm(dim=-2) * q["Wo"].norm(dim=-1)).sum(-1)
            return r
        r = spectral_bias_unit(q["Wq"] @ q["Wk"].transpose(-1, -2), d_head)
        if out_proj:
            r = r + spectral_bias_unit(q["Wv"] @ q["Wo"], d_head)
        return r

    formula = ("(T/2) sum_j log(|q_j| |k_j|)" if subgroup == "columns"
               else "(T/2)(sum log s_i + sum_{i<j} log(s_i+s_j)), s = svd(Wq Wk^T)")
    if out_proj:
        formula += " + same for (Wv, Wo)"
    full_dim = d_head * d_head * (2 if out_proj else 1)
    return CatalogEntry(
        name=p.name, parametrization=p, algebra=alg, full_dim=full_dim, formula=formula,
        bias_unit=bias_unit, group=f"GL({d_head})" + ("^2" if out_proj else "")
        if subgroup == "full" else f"(R>0)^{len(gens)} (columns of GL({d_head}))",
        extra={"probes": x, "subgroup": subgroup},
    )
