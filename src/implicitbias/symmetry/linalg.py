"""Float64 linear-algebra helpers for the symmetry module.

* :func:`null_space` — right null space of a matrix by SVD, with a relative threshold;
* :func:`span_basis` — an orthonormal basis of the row span of a set of vectors;
* :func:`echelon_basis` — a θ-independent, sparse ("reduced echelon") basis of a span;
* :func:`principal_angles` / :func:`max_principal_angle` — angles between two spans;
* :func:`safe_logdet` — log det of a symmetric PSD matrix, ``-inf`` when singular.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
import torch

__all__ = [
    "null_space",
    "span_basis",
    "echelon_basis",
    "principal_angles",
    "max_principal_angle",
    "containment_angle",
    "safe_logdet",
    "is_singular_psd",
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


def span_basis(vecs: torch.Tensor, rtol: float = 1e-9) -> torch.Tensor:
    """Orthonormal basis (rows) of the span of the rows of ``vecs`` (shape ``(m, n)``)."""
    if vecs.shape[0] == 0:
        return vecs
    u, s, vh = torch.linalg.svd(vecs, full_matrices=False)
    rank = int((s > rtol * max(float(s[0]), 1e-300)).sum())
    return vh[:rank]


def echelon_basis(vecs: torch.Tensor) -> torch.Tensor:
    """A reduced-echelon basis of the row span of ``vecs`` (rows linearly independent).

    Pivot entries (chosen by QR with column pivoting) are 1 in their own row and 0 in the
    others, so each basis vector is as sparse as the span allows (e.g. one Hadamard
    rescaling per coordinate, ``E_ij`` for ``gl(r)``). The basis is a fixed linear
    transformation of the input, so it is θ-independent whenever the input is.

    Args:
        vecs: ``(k, n)`` with linearly independent rows.

    Returns:
        ``(k, n)`` basis of the same span.
    """
    k = vecs.shape[0]
    if k == 0:
        return vecs
    q = span_basis(vecs)
    qn = q.cpu().numpy()
    _, _, piv = scipy.linalg.qr(qn, mode="economic", pivoting=True)
    b = qn[:, piv[:k]]
    out = np.linalg.solve(b, qn)
    scale = np.abs(out).max()
    out[np.abs(out) < 1e-13 * max(scale, 1.0)] = 0.0
    return torch.from_numpy(out).to(vecs.dtype)


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the row spans of ``a`` and ``b``.

    Uses ``sin`` of the angles (accurate near 0): ``sin theta_i`` are the singular values of
    ``Qb - (Qb Qa^T) Qa``, paired with ``cos`` from ``Qa Qb^T``.
    """
    qa = span_basis(a.to(torch.float64))
    qb = span_basis(b.to(torch.float64))
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


def max_principal_angle(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest principal angle between two spans; ``pi/2`` if their dimensions differ."""
    qa = span_basis(a.to(torch.float64))
    qb = span_basis(b.to(torch.float64))
    if qa.shape[0] != qb.shape[0]:
        return math.pi / 2
    ang = principal_angles(qa, qb)
    return float(ang.max()) if ang.numel() else 0.0


def containment_angle(sub: torch.Tensor, big: torch.Tensor) -> float:
    """Largest angle between a vector of span(``sub``) and span(``big``) (0 iff contained)."""
    qs = span_basis(sub.to(torch.float64))
    qb = span_basis(big.to(torch.float64))
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
