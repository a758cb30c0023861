"""Parametrizations whose complete linear symmetry algebra is known by construction.

Each builder returns a :class:`Known`: the parametrization, a basis of its algebra (fixed
generator matrices written down by hand, not discovered), the dimension of the algebra's
symmetric part, and the closed-form induced bias per unit temperature where one exists.

* :func:`product` — disjoint product of catalogue blocks: the algebra is the direct sum of
  the blocks' algebras (block-diagonal), the bias the sum of their closed forms.
* :func:`quadratic_forms` — ``phi_i = x_i^T diag(eta_i) x_i`` on disjoint blocks, signature
  ``(p_i, q_i)``: algebra ``⊕ so(p_i, q_i)`` (rotations ``E_ij - E_ji`` within a sign class,
  boosts ``E_ij + E_ji`` across), symmetric part ``⊕ p_i q_i`` boosts. At the balanced point
  the minus (plus) part of a block vanishes when ``w_i > 0`` (``< 0``), so
  ``C = w_i I_{q_i}`` iff ``p_i = 1`` (resp. ``|w_i| I_{p_i}`` iff ``q_i = 1``):
  ``R/T = 0.5 sum_i q_i log w_i`` (resp. ``p_i log |w_i|``); otherwise ``C`` is singular
  (definite blocks have no boost and contribute nothing).
* :func:`linear_chain` — ``W = W_L ... W_1`` with hidden widths at most ``min(d_0, d_L)``:
  algebra ``⊕_hidden gl(d_l)`` acting by ``(W_{l+1}, W_l) -> (W_{l+1} A^{-1}, A W_l)``;
  for ``L = 2`` the bias is the factorization formula. Not when a factor *between two hidden
  layers* is a vector of length >= 2 (hidden widths 1 next to >= 2): then
  ``δW_{l+1} = M (J W_l)^T`` with ``J`` skew is linear too (``W_l^T J W_l = 0`` for a column),
  e.g. ``chain(2, 1, 2, 2)`` has dimension 7, not 5 (:func:`chain_vector_extras`).
* :func:`smooth_none` — ``phi = M1 x + M2 x^3`` with ``n_out >= D`` generic outputs: no
  linear symmetry at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from implicitbias.symmetry import Parametrization, catalog
from implicitbias.symmetry.catalog.base import left_mult, right_mult

F64 = torch.float64


@dataclass
class Known:
    """A parametrization with its known algebra (see module docstring)."""

    p: Parametrization
    gens: torch.Tensor  # (k, D, D)
    sym_dim: int
    bias_unit: Callable[[torch.Tensor], torch.Tensor] | None  # (n, D) -> (n,); NaN = singular
    label: str


def _embed(blocks: list[torch.Tensor], sizes: list[int]) -> torch.Tensor:
    """Stack per-block generators ``(k_b, n_b, n_b)`` into block-diagonal ``(sum k_b, D, D)``."""
    d = sum(sizes)
    out = []
    off = 0
    for g, n in zip(blocks, sizes, strict=True):
        big = torch.zeros(g.shape[0], d, d, dtype=F64)
        big[:, off:off + n, off:off + n] = g
        out.append(big)
        off += n
    return torch.cat(out) if out else torch.zeros(0, d, d, dtype=F64)


def _catalog_sym_dim(kind: str, args: tuple[int, ...]) -> int:
    if kind == "hadamard":
        return args[0] * (args[1] - 1)
    if kind == "factorization":
        return args[2] * (args[2] + 1) // 2
    if kind == "relu":
        return args[1]
    return args[0]  # cumsum_hadamard


def catalog_block(kind: str, args: tuple[int, ...]) -> catalog.CatalogEntry:
    """A catalogue entry by kind: hadamard(d, L), factorization(m, n, r), relu(d_in, h, d_out), cumsum(n)."""
    make = {"hadamard": catalog.hadamard, "factorization": catalog.factorization,
            "relu": catalog.relu_net, "cumsum": catalog.cumsum_hadamard}[kind]
    return make(*args)


def product(specs: list[tuple[str, tuple[int, ...]]]) -> Known:
    """Disjoint product of catalogue blocks ``[(kind, args), ...]``."""
    entries = [catalog_block(k, a) for k, a in specs]
    sizes = [e.parametrization.dim for e in entries]
    shapes: dict[str, tuple[int, ...]] = {}
    for i, e in enumerate(entries):
        for name, shp in e.parametrization.shapes.items():
            shapes[f"b{i}_{name}"] = shp

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        outs = []
        for i, e in enumerate(entries):
            sub = {name: q[f"b{i}_{name}"] for name in e.parametrization.shapes}
            outs.append(e.parametrization.fn(sub).reshape(-1))
        return torch.cat(outs)

    label = " x ".join(e.name for e in entries)
    p = Parametrization(fn, shapes, name=label)
    gens = _embed([e.algebra.generators for e in entries], sizes)
    offs = [sum(sizes[:i]) for i in range(len(sizes))]

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        return sum(e.bias_unit(th[..., o:o + n]) for e, o, n in zip(entries, offs, sizes, strict=True))

    sym = sum(_catalog_sym_dim(k, a) for k, a in specs)
    return Known(p, gens, sym, bias_unit, label)


def so_pq(eta: list[int]) -> torch.Tensor:
    """Basis of ``so(eta) = {A : A^T eta + eta A = 0}`` for ``eta = diag(±1)``: ``(n(n-1)/2, n, n)``."""
    n = len(eta)
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            a = torch.zeros(n, n, dtype=F64)
            a[i, j] = 1.0
            a[j, i] = -1.0 if eta[i] == eta[j] else 1.0
            out.append(a)
    return torch.stack(out) if out else torch.zeros(0, n, n, dtype=F64)


def quadratic_forms(signs: list[list[int]]) -> Known:
    """``phi_i = sum_j eta_ij x_ij^2`` on disjoint blocks with sign vectors ``signs[i]``."""
    etas = [torch.tensor(s, dtype=F64) for s in signs]
    sizes = [len(s) for s in signs]
    shapes = {f"x{i}": (n,) for i, n in enumerate(sizes)}

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([(eta * q[f"x{i}"] ** 2).sum(-1) for i, eta in enumerate(etas)], dim=-1)

    p = Parametrization(fn, shapes, name="forms" + "".join(f"({s.count(1)},{s.count(-1)})" for s in signs))
    gens = _embed([so_pq(s) for s in signs], sizes)
    offs = [sum(sizes[:i]) for i in range(len(sizes))]

    def bias_unit(th: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(th.shape[:-1], dtype=F64)
        for s, eta, o, n in zip(signs, etas, offs, sizes, strict=True):
            w = (eta * th[..., o:o + n] ** 2).sum(-1)
            pp, qq = s.count(1), s.count(-1)
            if pp == 0 or qq == 0:  # definite form: compact so(n), no boost, no contribution
                continue
            ok = ((w > 0) & (pp == 1)) | ((w < 0) & (qq == 1))
            mult = torch.where(w > 0, torch.full_like(w, float(qq)), torch.full_like(w, float(pp)))
            total = total + torch.where(ok, 0.5 * mult * torch.log(w.abs()), torch.full_like(w, math.nan))
        return total

    sym = sum(s.count(1) * s.count(-1) for s in signs)
    return Known(p, gens, sym, bias_unit, p.name)


def linear_chain(widths: list[int]) -> Known:
    """``W = W_L ... W_1``, ``W_l`` of shape ``(widths[l], widths[l-1])``; hidden widths <= ends."""
    hidden = widths[1:-1]
    if any(h > min(widths[0], widths[-1]) for h in hidden):
        raise ValueError("hidden widths must not exceed min(d_0, d_L)")
    if 1 in hidden and max(hidden) > 1:
        raise ValueError("a vector factor between hidden layers has more symmetries (chain_vector_extras)")
    return _chain(widths)


def _chain(widths: list[int]) -> Known:
    depth = len(widths) - 1
    shapes = {f"W{k + 1}": (widths[k + 1], widths[k]) for k in range(depth)}

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        w = q["W1"]
        for k in range(2, depth + 1):
            w = q[f"W{k}"] @ w
        return w

    p = Parametrization(fn, shapes, name=f"chain{tuple(widths)}")
    sl = p.slices
    gens = []
    for k in range(1, depth):  # hidden layer k between W_k and W_{k+1}
        h = widths[k]
        for i in range(h):
            for j in range(h):
                e = torch.zeros(h, h, dtype=F64)
                e[i, j] = 1.0
                g = torch.zeros(p.dim, p.dim, dtype=F64)
                a, b = sl[f"W{k}"], sl[f"W{k + 1}"]
                g[a, a] = left_mult(shapes[f"W{k}"], e)  # W_k -> E W_k
                g[b, b] = right_mult(shapes[f"W{k + 1}"], -e)  # W_{k+1} -> -W_{k+1} E
                gens.append(g)
    bias_unit = None
    if depth == 2:
        r = widths[1]

        def bias_unit(th: torch.Tensor) -> torch.Tensor:
            return catalog.spectral_bias_unit(fn(p.unflatten(th)), r)

    sym = sum(h * (h + 1) // 2 for h in widths[1:-1])
    stacked = torch.stack(gens) if gens else torch.zeros(0, p.dim, p.dim, dtype=F64)
    return Known(p, stacked, sym, bias_unit, p.name)


def smooth_none(dim: int, n_out: int, seed: int) -> Known:
    """``phi(x) = M1 x + M2 x^3`` with Gaussian ``M1, M2`` of shape ``(n_out, dim)``, ``n_out >= dim``."""
    g = torch.Generator().manual_seed(seed)
    m1 = torch.randn(n_out, dim, generator=g, dtype=F64)
    m2 = torch.randn(n_out, dim, generator=g, dtype=F64)
    p = Parametrization(lambda q: q["x"] @ m1.T + (q["x"] ** 3) @ m2.T, {"x": (dim,)}, name=f"smooth({dim}->{n_out})")
    return Known(p, torch.zeros(0, dim, dim, dtype=F64), 0, lambda th: torch.zeros(th.shape[:-1], dtype=F64), p.name)


def chain_vector_extras() -> tuple[Parametrization, torch.Tensor]:
    """``chain(2, 1, 2, 2)`` and its 7 generators: gl(1) ⊕ gl(2) plus ``δW3 = e_i (J W2)^T``.

    ``W2`` is a column ``(2, 1)``, so ``δW3 W2 = e_i W2^T J^T W2 = 0`` for ``J = [[0, 1], [-1, 0]]``.
    """
    kn = linear_chain_unchecked([2, 1, 2, 2])
    sl = kn.p.slices
    extra = []
    for i in range(2):
        g = torch.zeros(kn.p.dim, kn.p.dim, dtype=F64)
        w3 = sl["W3"].start + 2 * i  # row i of W3 (2 x 2, row-major)
        w2 = sl["W2"].start
        g[w3 + 0, w2 + 1] = 1.0  # δW3[i, 0] = W2[1]
        g[w3 + 1, w2 + 0] = -1.0  # δW3[i, 1] = -W2[0]
        extra.append(g)
    return kn.p, torch.cat([kn.gens, torch.stack(extra)])


def linear_chain_unchecked(widths: list[int]) -> Known:
    """:func:`linear_chain` without the shape checks (its GL generators only)."""
    return _chain(widths)
