"""The simulator with the symmetry core: Parametrization shapes and algebra projections."""

from __future__ import annotations

import pytest
import torch

from implicitbias import dynamics as dyn
from implicitbias.dynamics import toys

catalog = pytest.importorskip("implicitbias.symmetry.catalog")


def test_catalog_hadamard_projection_matches_toy_projector():
    """Projected Langevin with ``alg.project_out`` == the closed-form toy projector (to round-off)."""
    entry = catalog.hadamard(3, 2)
    p = entry.parametrization
    assert dyn.ParamLayout.of(p).shapes == dyn.ParamLayout.of(toys.diag_shapes(3, 2)).shapes

    def loss(params, batch):
        return 0.5 * ((p.fn(params) - batch["y"]) ** 2).sum()

    y = torch.tensor([1.0, -0.5, 0.3], dtype=torch.float64)
    sims = [dyn.Simulator(loss, p, dyn.chain(dyn.gradient_step(0.01), dyn.projected_langevin(0.01, 0.2, project=proj)),
                          dyn.FullBatch({"y": y}))
            for proj in (entry.algebra.project_out, toys.diag_project(3, 2))]
    th = 1.0 + 0.3 * torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a, b = (s.run(th, 50, seed=1).theta for s in sims)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_factorization_projected_step_orthogonal_to_catalog_fields():
    entry = catalog.factorization(2, 2, 2)
    p, alg = entry.parametrization, entry.algebra
    A = torch.tensor([[1.0, 0.5], [-0.3, 0.8]], dtype=torch.float64)

    def loss(params, batch):
        return 0.5 * ((p.fn(params) - batch["y"]) ** 2).sum() * 0.0  # noise only

    sim = dyn.Simulator(loss, p, dyn.chain(dyn.projected_langevin(0.1, 1.0, fields=alg.fields)), dyn.FullBatch({"y": A}))
    th = torch.randn(16, p.dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    step = sim.run(th, 1, seed=0).theta - th
    F = alg.fields(th)
    assert (F.transpose(1, 2) @ step[:, :, None]).abs().max() < 1e-10
    assert step.abs().max() > 1e-2
