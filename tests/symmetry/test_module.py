"""``Parametrization.from_module`` / ``from_loss``: layout, probes, and the same algebra as hand-written forms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from implicitbias.errors import UserInputError
from implicitbias.symmetry import Parametrization, catalog, discover_symmetries
from implicitbias.symmetry.linalg import max_principal_angle

from .modules import mlp

F64 = torch.float64


def _flat(alg) -> torch.Tensor:
    g = alg.generators
    return g.reshape(g.shape[0], -1)


class Hadamard(nn.Module):
    def __init__(self, d: int, depth: int) -> None:
        super().__init__()
        for i in range(depth):
            setattr(self, f"u{i + 1}", nn.Parameter(torch.randn(d)))
        self.depth = d, depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.u1
        for i in range(1, self.depth[1]):
            w = w * getattr(self, f"u{i + 1}")
        return x * w


class Factorization(nn.Module):
    def __init__(self, m: int, n: int, r: int) -> None:
        super().__init__()
        self.U = nn.Parameter(torch.randn(m, r))
        self.V = nn.Parameter(torch.randn(n, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.U @ self.V.T).T


class ReluNet(nn.Module):
    def __init__(self, d_in: int, h: int, d_out: int) -> None:
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(h, d_in))
        self.W2 = nn.Parameter(torch.randn(d_out, h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W1.T) @ self.W2.T


class Attention(nn.Module):
    def __init__(self, d_emb: int, d_head: int) -> None:
        super().__init__()
        self.Wq, self.Wk, self.Wv = (nn.Parameter(torch.randn(d_emb, d_head)) for _ in range(3))
        self.scale = d_head ** -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = x @ self.Wq, x @ self.Wk, x @ self.Wv
        return torch.softmax(self.scale * q @ k.transpose(-1, -2), dim=-1) @ v


class CumsumHadamard(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.a, self.b = nn.Parameter(torch.randn(n)), nn.Parameter(torch.randn(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.cumsum(self.a * self.b, 0)


MODULE_FORMS = {  # catalogue entry -> (module, per-sample input shape); same names, shapes, order
    "hadamard(5,2)": (lambda: catalog.hadamard(5, 2), lambda: Hadamard(5, 2), (5,)),
    "hadamard(4,3)": (lambda: catalog.hadamard(4, 3), lambda: Hadamard(4, 3), (4,)),
    "factorization(4,3,2)": (lambda: catalog.factorization(4, 3, 2), lambda: Factorization(4, 3, 2), (3,)),
    "relu_net(3,16,1)": (lambda: catalog.relu_net(3, 16, 1), lambda: ReluNet(3, 16, 1), (3,)),
    "attention(6,3)": (lambda: catalog.attention(6, 3), lambda: Attention(6, 3), (4, 6)),
    "cumsum_hadamard(8)": (lambda: catalog.cumsum_hadamard(8), lambda: CumsumHadamard(8), (8,)),
}


@pytest.mark.parametrize("key", list(MODULE_FORMS))
def test_module_form_has_the_catalogue_algebra(key):
    entry_fn, module_fn, shape = MODULE_FORMS[key]
    e = entry_fn()
    torch.manual_seed(0)
    p = Parametrization.from_module(module_fn(), torch.randn(2, *shape))
    assert p.shapes == e.parametrization.shapes and list(p.shapes) == list(e.parametrization.shapes)
    alg = discover_symmetries(p)  # modules always take the sparse path
    assert alg.info["mode"] == "sparse"
    assert alg.dim == e.full_dim == e.algebra.dim
    assert max_principal_angle(_flat(alg), _flat(e.algebra)) < 1e-8
    hand = discover_symmetries(e.parametrization, mode="sparse")  # hand-written, same path
    assert max_principal_angle(_flat(alg), _flat(hand)) < 1e-8


def test_layout_and_reference_evaluation():
    torch.manual_seed(0)
    m = mlp([3, 4, 2])
    p = Parametrization.from_module(m, torch.randn(5, 3))
    assert p.names == ["0.weight", "0.bias", "2.weight", "2.bias"] and p.dim == 12 + 4 + 8 + 2
    q = p.unflatten(p.theta0)
    for k, v in m.named_parameters():
        assert torch.equal(q[k], v.detach().to(F64))
    x = torch.randn(7, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    out = p._call(q, x)
    assert torch.allclose(out, m.double()(x), atol=1e-12)
    assert m.training  # eval mode only during evaluation
    with torch.no_grad():
        m[0].bias.add_(1.0)
    assert torch.allclose(p.current_theta() - p.theta0, torch.cat([torch.zeros(12), torch.ones(4), torch.zeros(10)]).double())
    # fresh probes differ between draws; restricted probes are the example batch
    g = torch.Generator().manual_seed(0)
    assert not torch.equal(p.sample_probes(4, g), p.sample_probes(4, g))


def test_restricted_batch_has_more_symmetries_than_the_function():
    x = torch.zeros(1, 4)
    x[0, 0] = 1.0  # one input with three zero coordinates
    lin = nn.Linear(4, 2, bias=False)
    free = discover_symmetries(Parametrization.from_module(lin, x))
    restricted = discover_symmetries(Parametrization.from_module(lin, x, restrict_to_batch=True))
    assert free.dim == 0
    assert restricted.dim == 12  # E_xy on columns x = 1, 2, 3 (any y): W x never sees them


def test_probe_inputs_and_sampler():
    torch.manual_seed(0)
    m = mlp([3, 5, 2])
    data = torch.randn(100, 3)
    a = discover_symmetries(Parametrization.from_module(m, data[:4], probe_inputs=data))
    b = discover_symmetries(Parametrization.from_module(
        m, data[:4], probe_sampler=lambda n, g: torch.rand(n, 3, generator=g) - 0.5))
    assert a.dim == b.dim == 5


def test_from_loss_finds_symmetries_of_the_objective():
    torch.manual_seed(0)
    lin = nn.Linear(6, 4, bias=False)

    def goodness(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return (model(batch) ** 2).sum(-1).mean()  # sees only ||W x||^2: invariant under W -> Q W

    assert discover_symmetries(Parametrization.from_module(lin, torch.randn(8, 6))).dim == 0
    alg = discover_symmetries(Parametrization.from_loss(lin, goodness, torch.randn(8, 6)))
    assert alg.dim == 4 * 3 // 2  # so(4) acting on the rows
    s = alg.to_dense().generators
    assert torch.allclose(s, -s.transpose(1, 2), atol=1e-10)  # skew: rotations


@pytest.mark.parametrize("bad, needle", [
    (lambda: Parametrization.from_module("not a module", torch.randn(2, 3)), "torch.nn.Module"),
    (lambda: Parametrization.from_module(nn.Linear(3, 2), torch.randn(2, 4)), "failed on the example"),
    (lambda: Parametrization.from_module(nn.ReLU(), torch.randn(2, 3)), "no trainable parameters"),
    (lambda: Parametrization.from_loss(nn.Linear(3, 2), lambda m, b: m(b), torch.randn(2, 3)), "scalar"),
    (lambda: Parametrization.from_module(nn.Linear(3, 2), "x"), "example_input"),
])
def test_bad_modules_are_user_errors(bad, needle):
    with pytest.raises(UserInputError, match=needle):
        bad()
