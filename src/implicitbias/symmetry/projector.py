"""The orbit projector ``P_⊥ v = v − Ξ (ΞᵀΞ)^+ Ξᵀ v``: the library's only implementation.

Used by :meth:`implicitbias.symmetry.SymmetryAlgebra.project_out` and by the dynamics'
projected Langevin rule (:func:`implicitbias.dynamics.rules.project_out_fields`).
"""

from __future__ import annotations

import torch

__all__ = ["project_out_span"]


def project_out_span(fields: torch.Tensor, v: torch.Tensor, rcond: float = 1e-12) -> torch.Tensor:
    """Remove from ``v`` its orthogonal projection onto the span of the columns of ``fields``.

    ``P_⊥ v = v − Ξ c`` with ``c = (ΞᵀΞ)^+ Ξᵀ v``, in float64. The columns of Ξ are first
    scaled to unit norm (zero columns stay zero), so fields of very different sizes (e.g.
    near a singular orbit, where one field shrinks to 0) do not make the Gram
    ill-conditioned; the pseudo-inverse is taken through an eigendecomposition of the scaled
    Gram with eigenvalues below ``rcond`` times the largest dropped (dependent fields, e.g.
    so(3) on R³, or a vanishing field), followed by one step of iterative refinement.
    Cholesky is avoided on purpose: rank-deficient Grams are common and its failure path is
    slow in batched LAPACK.

    Args:
        fields: ``(..., D, k)`` fields Ξ (columns span the orbit tangent).
        v: ``(..., D)`` vectors; leading dimensions broadcast against ``fields``'.
        rcond: relative eigenvalue cut-off of the scaled Gram.

    Returns:
        ``(..., D)`` projected vectors in ``v``'s dtype (float64 for integer ``v``), with
        ``Ξᵀ P_⊥ v ≈ 0`` to round-off.
    """
    v = torch.as_tensor(v)
    out_dtype = v.dtype if torch.is_floating_point(v) else torch.float64
    f = torch.as_tensor(fields).to(device=v.device, dtype=torch.float64)
    if f.shape[-1] == 0:
        return v.clone().to(out_dtype)
    norms = f.norm(dim=-2, keepdim=True)
    f = f / torch.where(norms > 0, norms, torch.ones_like(norms))
    ft = f.transpose(-1, -2)
    lam, q = torch.linalg.eigh(ft @ f)
    cut = rcond * lam[..., -1:].clamp_min(1e-300)
    inv = torch.where(lam > cut, 1.0 / torch.where(lam > cut, lam, torch.ones_like(lam)), torch.zeros_like(lam))
    qt = q.transpose(-1, -2)
    x = v.to(torch.float64).unsqueeze(-1)
    for _ in range(2):  # normal equations + one step of iterative refinement
        x = x - f @ (q @ (inv[..., None] * (qt @ (ft @ x))))
    return x.squeeze(-1).to(out_dtype)
