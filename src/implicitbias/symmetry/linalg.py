"""Float64 linear-algebra helpers for the symmetry module.

* :func:`null_space` — right null space of a matrix by SVD, with a relative threshold;
* :func:`span_basis` — an orthonormal basis of the row span of a set of vectors;
* :func:`echelon_basis` — a θ-independent, sparse ("reduced echelon") basis of a span;
* :func:`principal_angles` / :func:`max_principal_angle` — angles between two spans;
* :func:`safe_logdet` — log det of a symmetric PSD matrix, ``-inf`` when singular;
* :func:`symmetric_subspace` — the symmetric (and skew) part ``g ∩ Sym(D)`` of a span of
  generator matrices.
"""

from __future__ import annotations

import math

import torch

# the one thread helper lives in implicitbias.device; re-exported here under its old name
from implicitbias.device import torch_threads as lapack_threads

__all__ = [
    "null_space",
    "constraint_null_space",
    "lapack_threads",
    "span_basis",
    "echelon_basis",
    "principal_angles",
    "max_principal_angle",
    "containment_angle",
    "safe_logdet",
    "is_singular_psd",
    "symmetric_subspace",
    "SYM_TOL",
]


def null_space(k: torch.Tensor, rtol: float = 1e-9) -> tuple[torch.Tensor, torch.Tensor]:
    """Right null space of ``k`` (rows x p).

    Args:
        k: constraint matrix, float64, shape ``(n, p)``.
        rtol: singular values ``<= rtol * s_max`` count as zero.

    Returns:
        ``(N, s)``: orthonormal null basis ``N`` of shape ``(p, p - rank)`` and all singular
        values ``s`` (descending, padded with zeros to length ``p``).
    """
    n, p = k.shape
    if n == 0:
        return torch.eye(p, dtype=k.dtype), torch.zeros(p, dtype=k.dtype)
    _, s, vh = torch.linalg.svd(k, full_matrices=n < p)
    s_full = torch.zeros(p, dtype=k.dtype)
    s_full[: s.numel()] = s
    smax = float(s_full[0]) if p else 0.0
    rank = int((s_full > rtol * max(smax, 1e-300)).sum())
    return vh[rank:].T.contiguous(), s_full


def constraint_null_space(
    k: torch.Tensor, rtol: float = 1e-9, svd_max: int = 600
) -> tuple[torch.Tensor, torch.Tensor]:
    """Null space of a tall constraint matrix ``k`` (``(n, p)``), fast for large ``p``.

    For ``p <= svd_max`` this is :func:`null_space`. Otherwise: candidates from ``eigh`` of
    the Gram ``k^T k`` (eigenvalues ``<= 1e-8 lambda_max``), one inverse-iteration sweep with
    ``(k^T k + mu I)^{-1}``, ``mu = 1e-13 lambda_max``, then an SVD of ``k N0`` keeps the
    directions with singular value ``<= rtol * ||k||_2`` (no squaring in the final test).

    Returns:
        ``(N, s)``: orthonormal null basis ``(p, n0)`` and singular values (descending) of the
        non-null part followed by those of ``k`` on the candidates (approximate for the
        former: square roots of Gram eigenvalues).
    """
    n, p = k.shape
    if p <= svd_max or n < p:
        return null_space(k, rtol)
    g = k.T @ k
    w, v = torch.linalg.eigh(g)
    lmax = float(w[-1].clamp(min=1e-300))
    cand = w <= 1e-8 * lmax
    n0 = v[:, cand]
    if n0.shape[1]:
        mu = 1e-13 * lmax
        chol = torch.linalg.cholesky(g + mu * torch.eye(p, dtype=g.dtype))
        n0 = torch.linalg.qr(torch.cholesky_solve(n0, chol)).Q
        _, s2, vh2 = torch.linalg.svd(k @ n0, full_matrices=False)
        smax = math.sqrt(lmax)
        keep = s2 <= rtol * smax
        basis = n0 @ vh2[keep].T
        s_rest = torch.sqrt(w[~cand].clamp(min=0)).flip(0)
        s_all = torch.cat([s_rest, s2])
        return basis, s_all
    return v[:, :0], torch.sqrt(w.clamp(min=0)).flip(0)


def span_basis(vecs: torch.Tensor, rtol: float = 1e-9) -> torch.Tensor:
    """Orthonormal basis (rows) of the span of the rows of ``vecs`` (shape ``(m, n)``)."""
    if vecs.shape[0] == 0:
        return vecs
    u, s, vh = torch.linalg.svd(vecs, full_matrices=False)
    rank = int((s > rtol * max(float(s[0]), 1e-300)).sum())
    return vh[:rank]


def echelon_basis(vecs: torch.Tensor) -> torch.Tensor:
    """A reduced-echelon basis of the row span of ``vecs`` (rows linearly independent).

    Gauss–Jordan elimination with complete pivoting on an orthonormal basis of the span:
    each pivot entry is 1 in its own row and 0 in the others, so each basis vector is as
    sparse as the span allows (e.g. one Hadamard rescaling per coordinate, ``E_ij`` for
    ``gl(r)``). Rows are ordered by pivot column. The result is a fixed linear
    transformation of the span, so it is θ-independent whenever the input is.

    Args:
        vecs: ``(k, n)`` spanning the subspace (redundant rows are dropped).

    Returns:
        ``(rank, n)`` basis of the same span.
    """
    a = span_basis(vecs.to(torch.float64)).clone()
    k, n = a.shape
    pivots: list[int] = []
    for r in range(k):
        idx = int(a[r:].abs().argmax())
        i, j = divmod(idx, n)
        i += r
        if i != r:
            a[[r, i]] = a[[i, r]]
        a[r] /= float(a[r, j])  # (a scalar copy: a[r, j] is a view into the row)
        col = a[:, j].clone()
        col[r] = 0.0
        a -= torch.outer(col, a[r])
        a[:, j] = 0.0
        a[r, j] = 1.0
        pivots.append(j)
    order = sorted(range(k), key=lambda t: pivots[t])
    out = a[order]
    scale = float(out.abs().max()) if out.numel() else 1.0
    out[out.abs() < 1e-13 * max(scale, 1.0)] = 0.0
    return out


def _single_threaded(fn):
    """Run ``fn`` with one torch thread (small/medium factorizations on a busy shared CPU)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with lapack_threads(1):
            return fn(*args, **kwargs)

    return wrapper


def _on_support(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten to rows and keep only columns where ``a`` or ``b`` is non-zero (float64)."""
    a = a.reshape(a.shape[0], -1).to(torch.float64)
    b = b.reshape(b.shape[0], -1).to(torch.float64)
    cols = (a != 0).any(0) | (b != 0).any(0)
    return a[:, cols], b[:, cols]


@_single_threaded
def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the row spans of ``a`` and ``b``.

    Uses ``sin`` of the angles (accurate near 0): ``sin theta_i`` are the singular values of
    ``Qb - (Qb Qa^T) Qa``, paired with ``cos`` from ``Qa Qb^T``.
    """
    a, b = _on_support(a, b)
    qa = span_basis(a)
    qb = span_basis(b)
    if qa.shape[0] == 0 or qb.shape[0] == 0:
        return torch.zeros(0, dtype=torch.float64)
    cos = torch.linalg.svdvals(qa @ qb.T).clamp(max=1.0)
    m = min(qa.shape[0], qb.shape[0])
    small, big = (qa, qb) if qa.shape[0] <= qb.shape[0] else (qb, qa)
    resid = small - (small @ big.T) @ big
    sin = torch.linalg.svdvals(resid).clamp(max=1.0)
    ang_cos = torch.arccos(cos[:m])
    ang_sin = torch.flip(torch.arcsin(sin[:m]), dims=[0])
    # use sin-based angles where small (accurate), cos-based where large
    ang = torch.where(ang_sin < math.pi / 4, ang_sin, ang_cos)
    return torch.sort(ang).values


@_single_threaded
def max_principal_angle(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest principal angle between two spans; ``pi/2`` if their dimensions differ."""
    a, b = _on_support(a, b)
    qa = span_basis(a)
    qb = span_basis(b)
    if qa.shape[0] != qb.shape[0]:
        return math.pi / 2
    ang = principal_angles(qa, qb)
    return float(ang.max()) if ang.numel() else 0.0


@_single_threaded
def containment_angle(sub: torch.Tensor, big: torch.Tensor) -> float:
    """Largest angle between a vector of span(``sub``) and span(``big``) (0 iff contained)."""
    sub, big = _on_support(sub, big)
    qs = span_basis(sub)
    qb = span_basis(big)
    if qs.shape[0] == 0:
        return 0.0
    resid = qs - (qs @ qb.T) @ qb
    return float(torch.arcsin(torch.linalg.svdvals(resid).max().clamp(max=1.0)))


def is_singular_psd(c: torch.Tensor, rtol: float = 1e-13) -> torch.Tensor:
    """Whether each PSD matrix in ``c`` (``(..., k, k)``) is numerically singular."""
    if c.shape[-1] == 0:
        return torch.zeros(c.shape[:-2], dtype=torch.bool)
    ev = torch.linalg.eigvalsh(c)
    top = ev[..., -1].clamp(min=1e-300)
    return (ev[..., 0] <= rtol * c.shape[-1] * top) | ~torch.isfinite(ev).all(-1)


def safe_logdet(c: torch.Tensor, rtol: float = 1e-13) -> tuple[torch.Tensor, torch.Tensor]:
    """``log det`` of symmetric PSD ``c`` (``(..., k, k)``), ``-inf`` where singular.

    Returns:
        ``(logdet, singular)``: float64 values (never NaN) and a boolean mask.
    """
    c = c.to(torch.float64)
    if c.shape[-1] == 0:
        z = torch.zeros(c.shape[:-2], dtype=torch.float64)
        return z, torch.zeros_like(z, dtype=torch.bool)
    singular = is_singular_psd(c, rtol)
    sign, ld = torch.linalg.slogdet(c)
    bad = singular | (sign <= 0) | ~torch.isfinite(ld)
    ld = torch.where(bad, torch.full_like(ld, -math.inf), ld)
    return ld, bad


SYM_TOL = 1e-7
"""A unit-norm combination ``X`` of generators counts as symmetric when ``||X - X^T|| <= SYM_TOL``."""


def symmetric_subspace(gens: torch.Tensor, tol: float = SYM_TOL) -> tuple[torch.Tensor, dict[str, float]]:
    """A fixed basis of ``p = span(gens) ∩ Sym(D)``, the symmetric (non-compact) part.

    Works on an orthonormal (Frobenius) basis ``Q`` of the span (so dependent generators
    are harmless): a unit-norm ``X = c^T Q`` is symmetric iff ``||X - X^T||_F = 0``. The
    operator ``c -> X - X^T`` has singular values in ``[0, 2]`` whatever the scale or
    number of generators, so the rank decision is an *absolute* threshold ``tol`` on them
    (a relative one on the skew parts alone, which may be pure round-off, is what lost
    generators before). The result is symmetrised exactly and given a reduced-echelon
    basis (:func:`echelon_basis`: sparse, θ-independent).

    Args:
        gens: ``(k, D, D)`` generator matrices.
        tol: absolute threshold on singular values of the (anti)symmetrisation operator.

    Returns:
        ``(S, info)``: ``S`` of shape ``(m, D, D)`` with ``S_a = S_a^T``, and ``info`` with
        ``dim`` (of the span), ``compact_dim`` (``dim span ∩ Skew``), ``self_adjoint``
        (``dim p + dim k == dim g``) and ``sym_gap`` (the smallest singular value counted
        non-zero and the largest counted zero, for diagnostics).
    """
    gens = torch.as_tensor(gens).to(torch.float64)
    k, d = gens.shape[0], gens.shape[-1]
    empty = gens.new_zeros(0, d, d)
    if k == 0:
        return empty, {"dim": 0, "compact_dim": 0, "self_adjoint": True}
    flat = gens.reshape(k, d * d)
    cols = (flat != 0).any(0).nonzero().squeeze(1)
    cols = torch.unique(torch.cat([cols, (cols % d) * d + cols // d]))  # support and its transpose
    cols_t = (cols % d) * d + cols // d
    q = span_basis(flat[:, cols])  # (r, n): orthonormal basis of the span on the support
    r = q.shape[0]
    if r == 0:
        return empty, {"dim": 0, "compact_dim": 0, "self_adjoint": True}
    perm = torch.searchsorted(cols, cols_t)  # column of the transposed entry
    skew = q - q[:, perm]
    symm = q + q[:, perm]

    def left_null(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, s, _ = torch.linalg.svd(m, full_matrices=True)
        s_full = torch.zeros(r, dtype=torch.float64)
        s_full[: s.numel()] = s
        return u[:, s_full <= tol], s_full

    cs, s_skew = left_null(skew)  # coefficients of symmetric combinations
    ck, _ = left_null(symm)
    info = {
        "dim": r,
        "compact_dim": int(ck.shape[1]),
        "self_adjoint": bool(cs.shape[1] + ck.shape[1] == r),
        "sym_gap": (float(s_skew[s_skew <= tol].max()) if bool((s_skew <= tol).any()) else 0.0,
                    float(s_skew[s_skew > tol].min()) if bool((s_skew > tol).any()) else math.inf),
    }
    if cs.shape[1] == 0:
        return empty, info
    s_sup = cs.T @ q
    s_sup = 0.5 * (s_sup + s_sup[:, perm])  # exactly symmetric
    s_sup = echelon_basis(s_sup)
    out = torch.zeros(s_sup.shape[0], d * d, dtype=torch.float64)
    out[:, cols] = s_sup
    out = out.reshape(-1, d, d)
    return 0.5 * (out + out.transpose(1, 2)), info
