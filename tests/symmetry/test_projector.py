"""The one orbit projector: algebra and dynamics use the same function; robust to bad fields."""

from __future__ import annotations

import torch

from implicitbias import dynamics as dyn
from implicitbias.symmetry import catalog
from implicitbias.symmetry.projector import project_out_span

F64 = torch.float64


def test_algebra_and_dynamics_project_identically():
    e = catalog.factorization(4, 3, 2)
    th = e.random_points(7, seed=2)
    v = torch.randn(7, e.parametrization.dim, generator=torch.Generator().manual_seed(0), dtype=F64)
    a = e.algebra.project_out(th, v)
    b = dyn.project_out_fields(e.algebra.fields(th), v)
    assert torch.equal(a, b)


def test_projector_against_svd_oracle_with_badly_scaled_and_dependent_fields():
    """P v = v − Q Qᵀ v with Q an orthonormal basis of span(Ξ) built from the unscaled fields."""
    g = torch.Generator().manual_seed(1)
    base = torch.randn(9, 20, 4, generator=g, dtype=F64)
    scales = torch.tensor([1.0, 1e-7, 1e5, 1.0], dtype=F64)  # fields of very different sizes
    f = torch.cat([base * scales, base[..., :1] + base[..., 1:2] * 1e-7], dim=-1)  # + a dependent one
    f[0, :, 2] = 0.0  # a vanishing field (singular orbit)
    v = torch.randn(9, 20, generator=g, dtype=F64)
    got = project_out_span(f, v)
    expect = []
    for c in range(9):  # span(Ξ) = span of the unscaled independent fields (QR, well conditioned)
        cols = [0, 1, 3] if c == 0 else [0, 1, 2, 3]
        q = torch.linalg.qr(base[c][:, cols]).Q
        expect.append(v[c] - q @ (q.T @ v[c]))
    assert torch.allclose(got, torch.stack(expect), rtol=0, atol=1e-9)
    # orthogonal to every field, relative to each field's size
    fn = f / f.norm(dim=-2, keepdim=True).clamp(min=1e-300)
    assert float((fn.transpose(-1, -2) @ got.unsqueeze(-1)).abs().max()) < 1e-10
    assert project_out_span(f, v.float()).dtype == torch.float32
    assert torch.equal(project_out_span(f[..., :0], v), v)
