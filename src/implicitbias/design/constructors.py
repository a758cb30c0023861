"""Inverse-design constructors: a target bias on the predictor -> a redundant parametrization.

Recipe (reference §7.2): write the target as ``R(β)``; pick ``β = Φ(θ)`` whose fibres are
orbits of a known group; the moment-map-gauge induced bias ``(T/2) log det C`` on the
balanced slice equals ``R`` up to a constant. Closed forms (derived in the reference, §6):

* :func:`sparse_in_basis` — ``Bβ = u_1 ⊙ … ⊙ u_L``: ``R = T (L−1)/L Σ_i log|(Bβ)_i|``;
* :func:`total_variation` — ``B`` = first differences, ``β = cumsum(a ⊙ b)``:
  ``R = (T/2) Σ_t log|Δβ_t|`` (``Δβ_0 = β_0``);
* :func:`group_sparse` — ``β_i = s_{g(i)} v_i`` (one shared scale per group):
  ``C_gg = s_g² + ‖v_g‖² = 2‖β_g‖`` on the slice, so ``R = (T/2) Σ_g log ‖β_g‖₂``;
* :func:`low_rank` — ``W = U Vᵀ`` with ``GL(r)``: ``R = (T/2)[Σ_i log σ_i + Σ_{i<j} log(σ_i + σ_j)]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from implicitbias.design.base import Design
from implicitbias.design.bases import finite_difference_matrix
from implicitbias.errors import UserInputError
from implicitbias.symmetry import Parametrization, SymmetryAlgebra, catalog

__all__ = ["sparse_in_basis", "total_variation", "group_sparse", "low_rank",
           "HadamardInBasis", "GroupScale", "Factorized"]

F64 = torch.float64


class HadamardInBasis(nn.Module):
    """``W = (u_1 ⊙ … ⊙ u_L) B^{-T}`` row-wise, i.e. ``B w = u_1 ⊙ … ⊙ u_L`` for each row ``w``.

    ``forward(*factors)`` takes ``L`` tensors of the weight's shape ``(..., n)``;
    ``right_inverse(W)`` returns the balanced factors ``(sign(c)|c|^{1/L}, |c|^{1/L}, …)``,
    ``c = W Bᵀ``. With ``cumsum=True`` the inverse map is a cumulative sum (``B`` = differences).
    """

    def __init__(self, B: torch.Tensor, depth: int = 2, cumsum: bool = False) -> None:
        super().__init__()
        B = torch.as_tensor(B, dtype=F64)
        self.depth = int(depth)
        self.cumsum = bool(cumsum)
        self.register_buffer("B", B.float())
        self.register_buffer("B_inv_T", torch.linalg.inv(B).T.contiguous().float())

    def forward(self, *factors: torch.Tensor) -> torch.Tensor:
        c = factors[0]
        for f in factors[1:]:
            c = c * f
        if self.cumsum:
            return torch.cumsum(c, dim=-1)
        return c @ self.B_inv_T.to(c.dtype)

    def right_inverse(self, W: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c = W @ self.B.T.to(W.dtype)
        m = c.abs() ** (1.0 / self.depth)
        return (torch.sign(c) * m,) + tuple(m.clone() for _ in range(self.depth - 1))

    def extra_repr(self) -> str:
        return f"n={self.B.shape[0]}, depth={self.depth}, inverse={'cumsum' if self.cumsum else 'B^-1'}"


def sparse_in_basis(B: torch.Tensor, depth: int = 2, name: str = "", _cumsum: bool = False) -> Design:
    """Sparsity of ``Bβ`` for an invertible ``B (n, n)``: ``Bβ = u_1 ⊙ … ⊙ u_L``.

    Args:
        B: invertible matrix (identity, DCT, Haar, finite differences, …).
        depth: number of Hadamard factors ``L ≥ 2``; the bias is ``T (L−1)/L Σ log|(Bβ)_i|``.
        name: label.

    Raises:
        UserInputError: ``B`` not square, singular or badly conditioned, or ``depth < 2``.
    """
    B = torch.as_tensor(B, dtype=F64)
    if B.dim() != 2 or B.shape[0] != B.shape[1]:
        raise UserInputError(f"B must be a square matrix, got shape {tuple(B.shape)}")
    if depth < 2:
        raise UserInputError("depth must be >= 2")
    n = B.shape[0]
    sv = torch.linalg.svdvals(B)
    if float(sv[-1]) <= 1e-10 * float(sv[0]):
        raise UserInputError("B is singular (or nearly): sparse_in_basis needs an invertible map")
    Binv = torch.linalg.inv(B)
    names = [f"u{i + 1}" for i in range(depth)]

    def fn(q: dict[str, torch.Tensor]) -> torch.Tensor:
        c = q[names[0]]
        for k in names[1:]:
            c = c * q[k]
        return c @ Binv.T.to(c.dtype)

    label = name or f"sparse_in_basis(n={n}, depth={depth})"
    p = Parametrization(fn, {k: (n,) for k in names}, name=label)

    def alg() -> SymmetryAlgebra:
        ref = catalog.hadamard(n, depth).algebra  # same fibres: B is a fixed invertible map
        return SymmetryAlgebra(ref.generators, p, list(ref.names))

    coef = (depth - 1) / depth

    def closed(beta: torch.Tensor, T: float) -> torch.Tensor:  # noqa: N803
        return T * coef * torch.log((beta @ B.T).abs()).sum(-1)

    return Design(
        name=label, target=f"sparsity of Bβ (B {n}×{n})", module=HadamardInBasis(B, depth, _cumsum),
        parametrization=p, algebra_factory=alg, algebra_dim=n * (depth - 1),
        group=f"(R>0)^{n * (depth - 1)} (per-coordinate rescalings)", closed_form=closed,
        formula=f"T·{depth - 1}/{depth}·Σ_i log|(Bβ)_i|", predictor_shape=(n,),
    )


def total_variation(n: int) -> Design:
    """Total-variation design ``β = cumsum(a ⊙ b)``: sparsity of the increments ``Δβ``."""
    if n < 2:
        raise UserInputError("total_variation needs n >= 2")
    d = sparse_in_basis(finite_difference_matrix(n), 2, name=f"total_variation(n={n})", _cumsum=True)
    d.target = "sparse increments Δβ (total variation; Δβ_0 = β_0)"
    d.formula = "(T/2)·Σ_t log|Δβ_t|"
    return d


class GroupScale(nn.Module):
    """``β_i = s_{g(i)} v_i``: ``forward(s (..., G), v (..., n))``; ``right_inverse`` balances
    each group (``s_g = sqrt‖β_g‖``, ``‖v_g‖ = s_g``)."""

    def __init__(self, group_index: torch.Tensor, n_groups: int) -> None:
        super().__init__()
        self.n_groups = int(n_groups)
        self.register_buffer("group_index", group_index.long())

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v * s[..., self.group_index]

    def right_inverse(self, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sq = torch.zeros(*W.shape[:-1], self.n_groups, dtype=W.dtype, device=W.device)
        sq = sq.index_add(-1, self.group_index, W * W)
        s = sq.sqrt().sqrt()
        si = s[..., self.group_index]
        v = torch.where(si > 0, W / si.clamp_min(1e-30), torch.zeros_like(W))
        return s, v

    def extra_repr(self) -> str:
        return f"n={self.group_index.numel()}, groups={self.n_groups}"


def _group_index(groups: Sequence[Sequence[int]] | Sequence[int]) -> tuple[torch.Tensor, list[list[int]]]:
    gl = list(groups)
    if gl and all(isinstance(g, int) for g in gl):  # group sizes
        idx, out, start = [], [], 0
        for gi, size in enumerate(gl):  # type: ignore[assignment]
            if size < 1:
                raise UserInputError("group sizes must be >= 1")
            out.append(list(range(start, start + size)))
            idx += [gi] * size
            start += size
        return torch.tensor(idx), out
    members = [list(map(int, g)) for g in gl]  # type: ignore[arg-type]
    flat = sorted(i for g in members for i in g)
    if not members or flat != list(range(len(flat))):
        raise UserInputError("groups must partition 0..n-1 (or be a list of group sizes)")
    idx = torch.empty(len(flat), dtype=torch.long)
    for gi, g in enumerate(members):
        idx[g] = gi
    return idx, members


def group_sparse(groups: Sequence[Sequence[int]] | Sequence[int]) -> Design:
    """Group sparsity: one shared scale per group, ``β_g = s_g v_g``; ``R = (T/2) Σ_g log‖β_g‖``.

    Args:
        groups: a partition of ``0..n−1`` (list of index lists) or a list of group sizes.
    """
    gidx, members = _group_index(groups)
    G, n = len(members), int(gidx.numel())
    p = Parametrization(lambda q: q["v"] * q["s"][..., gidx], {"s": (G,), "v": (n,)},
                        name=f"group_sparse(n={n}, groups={G})")
    sl = p.slices

    def alg() -> SymmetryAlgebra:
        gens, gnames = [], []
        for gi, mem in enumerate(members):
            A = torch.zeros(p.dim, p.dim, dtype=F64)
            A[sl["s"].start + gi, sl["s"].start + gi] = 1.0
            for i in mem:
                A[sl["v"].start + i, sl["v"].start + i] = -1.0
            gens.append(A)
            gnames.append(f"rescale s[{gi}] up, v[{mem[0]}..{mem[-1]}] down")
        return SymmetryAlgebra(torch.stack(gens), p, gnames)

    def closed(beta: torch.Tensor, T: float) -> torch.Tensor:  # noqa: N803
        sq = torch.zeros(*beta.shape[:-1], G, dtype=beta.dtype).index_add(-1, gidx, beta * beta)
        return 0.5 * T * 0.5 * torch.log(sq).sum(-1)

    return Design(
        name=p.name, target=f"group sparsity over {G} groups (ℓ_{{2,log}})", module=GroupScale(gidx, G),
        parametrization=p, algebra_factory=alg, algebra_dim=G, group=f"(R>0)^{G} (one scale per group)",
        closed_form=closed, formula="(T/2)·Σ_g log‖β_g‖₂",
        predictor_shape=(n,), info={"groups": members},
    )


class Factorized(nn.Module):
    """``W = U Vᵀ``: ``forward(U (.., m, r), V (.., n, r))``; ``right_inverse`` is the balanced
    truncated SVD ``U = P_r Σ_r^{1/2}``, ``V = Q_r Σ_r^{1/2}``."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = int(rank)

    def forward(self, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        return U @ V.transpose(-1, -2)

    def right_inverse(self, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        P, S, Qh = torch.linalg.svd(W, full_matrices=False)
        r = self.rank
        rt = S[..., :r].sqrt()
        return P[..., :, :r] * rt[..., None, :], Qh[..., :r, :].transpose(-1, -2) * rt[..., None, :]

    def extra_repr(self) -> str:
        return f"rank={self.rank}"


def low_rank(m: int, n: int, rank_max: int, depth: int = 2) -> Design:
    """Spectral sparsity (low rank) of ``W (m, n)`` via ``W = U Vᵀ``, ``U (m, r)``, ``V (n, r)``.

    Raises:
        UserInputError: ``rank_max > min(m, n)`` or ``depth != 2`` (deeper closed forms are
            not derived; use the symmetry core on a custom parametrization).
    """
    if depth != 2:
        raise UserInputError("low_rank supports depth=2 only (no closed form derived for deeper products)")
    if not 1 <= rank_max <= min(m, n):
        raise UserInputError(f"rank_max must be in [1, min(m, n)] = [1, {min(m, n)}]")
    p = Parametrization(lambda q: q["U"] @ q["V"].transpose(-1, -2), {"U": (m, rank_max), "V": (n, rank_max)},
                        name=f"low_rank({m}x{n}, r={rank_max})")

    def alg() -> SymmetryAlgebra:
        ent = catalog.factorization(m, n, rank_max)
        return SymmetryAlgebra(ent.algebra.generators, p, list(ent.algebra.names))

    def closed(W: torch.Tensor, T: float) -> torch.Tensor:  # noqa: N803
        return T * catalog.spectral_bias_unit(W, rank_max)

    return Design(
        name=p.name, target=f"low rank of a {m}×{n} matrix (spectral sparsity)", module=Factorized(rank_max),
        parametrization=p, algebra_factory=alg, algebra_dim=rank_max**2, group=f"GL({rank_max})",
        closed_form=closed,
        formula="(T/2)·[Σ_i log σ_i + Σ_{i<j} log(σ_i + σ_j)]", predictor_shape=(m, n),
    )
