"""Parametrization layout and Jacobians (oracle: central finite differences)."""

from __future__ import annotations

import pytest
import torch

from implicitbias.errors import UserInputError
from implicitbias.symmetry import Parametrization, catalog


def test_flatten_unflatten_roundtrip_and_slices():
    p = Parametrization(lambda q: q["U"] @ q["V"].T, {"U": (4, 2), "V": (3, 2), "s": 5})
    assert p.dim == 8 + 6 + 5
    assert p.slices["V"] == slice(8, 14)
    th = torch.randn(p.dim, dtype=torch.float64)
    q = p.unflatten(th)
    assert q["U"].shape == (4, 2) and q["s"].shape == (5,)
    assert torch.equal(p.flatten(q), th)
    # batched: (C, D) <-> (C, *shape)
    thb = torch.randn(7, p.dim, dtype=torch.float64)
    qb = p.unflatten(thb)
    assert qb["V"].shape == (7, 3, 2)
    assert torch.equal(p.flatten(qb), thb)
    # row-major: U[1, 0] is flat index 2
    assert p.describe_index(2) == "U[1,0]"
    assert float(q["U"][1, 0]) == float(th[2])


def test_bad_shapes_rejected():
    p = Parametrization(lambda q: q["u"], {"u": (3,)})
    with pytest.raises(UserInputError):
        p.unflatten(torch.zeros(4))
    with pytest.raises(UserInputError):
        p.flatten({"u": torch.zeros(2)})
    with pytest.raises(UserInputError):
        Parametrization(lambda q: q, {"u": (0,)})


@pytest.mark.parametrize(
    "make",
    [
        lambda: catalog.factorization(4, 3, 2),
        lambda: catalog.relu_net(3, 5, 2, n_probe=20),
        lambda: catalog.attention(4, 2, n_batch=2, n_seq=3),
        lambda: catalog.attention(4, 2, out_proj=True, n_batch=2, n_seq=3),
        lambda: catalog.cumsum_hadamard(5),
        lambda: catalog.hadamard(3, 3),
    ],
)
def test_jacobian_and_jvp_match_finite_differences(make):
    e = make()
    p = e.parametrization
    th = e.random_point(3)
    jac = p.jacobian(th)
    h = 1e-6
    fd = torch.stack(
        [(p.flat_output(th + h * ei) - p.flat_output(th - h * ei)) / (2 * h) for ei in torch.eye(p.dim, dtype=torch.float64)],
        dim=1,
    )
    assert jac.shape == fd.shape
    assert torch.allclose(jac, fd, atol=1e-7, rtol=1e-6)
    v = torch.randn(p.dim, dtype=torch.float64)
    assert torch.allclose(p.jvp(th, v), fd @ v, atol=1e-6, rtol=1e-6)


def test_validate_reports_bad_functions():
    with pytest.raises(UserInputError, match="raised"):
        Parametrization(lambda q: q["u"] + torch.zeros(4), {"u": (3,)}).validate()
    with pytest.raises(UserInputError, match="not a torch.Tensor"):
        Parametrization(lambda q: 1.0, {"u": (3,)}).validate()
    with pytest.raises(UserInputError, match="non-finite"):
        Parametrization(lambda q: q["u"] / 0.0, {"u": (3,)}).validate()


def test_batched_predictor_equals_loop():
    e = catalog.attention(4, 2, n_batch=2, n_seq=3)
    th = e.random_points(3, seed=1)
    got = e.parametrization.batched(th)
    assert torch.allclose(got, torch.stack([e.parametrization(t) for t in th]), atol=1e-14)
    # a function that vmap cannot handle (data-dependent Python control flow) falls back to a loop
    p = Parametrization(lambda q: q["u"] * (2.0 if float(q["u"].sum()) > 0 else 1.0), {"u": (2,)})
    th = torch.tensor([[1.0, 2.0], [-3.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(p.batched(th), torch.tensor([[2.0, 4.0], [-3.0, 1.0]], dtype=torch.float64))
