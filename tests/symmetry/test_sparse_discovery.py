"""The scalable sparse discovery path against the dense / structured references and hand derivations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from implicitbias.errors import UserInputError
from implicitbias.symmetry import Parametrization, catalog, discover_symmetries
from implicitbias.symmetry.linalg import max_principal_angle

from .modules import Block, SelfAttention, attention_dim, block_dim, mlp

QUICK = {e.name: e for e in catalog.default_entries("quick")}


def _flat(alg) -> torch.Tensor:
    g = alg.generators
    return g.reshape(g.shape[0], -1)


@pytest.mark.parametrize("name", list(QUICK))
def test_catalogue_same_span_as_reference(name):
    p = QUICK[name].parametrization
    ref = discover_symmetries(p)  # dense (D <= 40) or structured
    new = discover_symmetries(p, mode="sparse")
    assert ref.info["mode"] in ("dense", "structured") and new.info["mode"] == "sparse"
    assert new.dim == ref.dim
    assert max_principal_angle(_flat(new), _flat(ref)) < 1e-8
    assert new.info["residual_check"].startswith("complete")


@pytest.mark.parametrize("sizes, act, bias, expected", [
    ([3, 4, 2], nn.ReLU, True, 4),           # one rescaling per hidden unit (bias scales with w_j)
    ([3, 4, 3, 2], nn.ReLU, False, 7),
    ([3, 4, 2], nn.Tanh, True, 0),           # smooth activations with biases: nothing
    ([3, 5, 2], nn.GELU, True, 0),
    ([3, 3, 2], nn.Identity, False, 9),      # deep linear: GL(3) on the hidden layer
    ([4, 3, 2], nn.LeakyReLU, True, 3),      # positively homogeneous too
])
def test_small_modules_same_span_as_dense_or_structured(sizes, act, bias, expected):
    torch.manual_seed(0)
    p = Parametrization.from_module(mlp(sizes, act, bias), torch.randn(4, sizes[0]))
    new = discover_symmetries(p)
    ref = discover_symmetries(p, mode="dense" if p.dim <= 40 else "structured")
    assert new.dim == ref.dim == expected
    if expected:
        assert max_principal_angle(_flat(new), _flat(ref)) < 1e-8


@pytest.mark.slow
def test_medium_relu_mlp_vs_structured():
    torch.manual_seed(1)
    p = Parametrization.from_module(mlp([5, 12, 6, 3]), torch.randn(4, 5))
    new = discover_symmetries(p)
    ref = discover_symmetries(p, mode="structured")
    assert new.dim == ref.dim == 18
    assert max_principal_angle(_flat(new), _flat(ref)) < 1e-8
    assert new.group_counts() == {"rescale 0": 12, "rescale 2": 6}
    assert new.names[0] == "rescale 0 unit 0"


def test_generators_are_symmetries_of_fresh_inputs():
    torch.manual_seed(2)
    m = mlp([6, 10, 10, 3])
    p = Parametrization.from_module(m, torch.randn(4, 6))
    alg = discover_symmetries(p)
    theta = p.random_theta(torch.Generator().manual_seed(5))
    x = torch.randn(50, 6, dtype=torch.float64)
    f0 = p._call(p.unflatten(theta), x)
    eps = 1e-6
    step = torch.from_numpy(alg.fields_scipy(theta).T @ torch.randn(alg.dim, dtype=torch.float64).numpy())
    f1 = p._call(p.unflatten(theta + eps * step), x)
    assert float((f1 - f0).abs().max()) < 1e-9 * float(f0.abs().max())  # O(eps^2)


def test_multihead_attention_hand_derived_algebra():
    torch.manual_seed(0)
    d, h = 8, 2
    p = Parametrization.from_module(SelfAttention(d, h), torch.randn(2, 5, d))
    alg = discover_symmetries(p)
    assert alg.dim == attention_dim(d, h) == 96
    groups = alg.group_counts()
    dh2 = (d // h) ** 2
    for head in range(h):
        assert groups[f"GL({d // h}) attn head {head} qk"] == dh2
        assert groups[f"GL({d // h}) attn head {head} k"] == dh2  # key bias: softmax ignores it
        assert groups[f"GL({d // h}) attn head {head} v; attn.out_proj head {head} o"] == dh2


def test_transformer_block_hand_derived_algebra():
    torch.manual_seed(0)
    d, h, ff = 8, 2, 24
    p = Parametrization.from_module(Block(d, h, ff), torch.randn(2, 5, d))
    alg = discover_symmetries(p)
    assert alg.dim == block_dim(d, h, ff)
    groups = alg.group_counts()
    assert groups["rescale fc1"] == ff  # ReLU units
    assert groups["rescale ln1"] == d and groups["rescale ln2"] == d  # LN gain+bias vs next columns


def test_layernorm_scale_generator_outside_the_slots():
    torch.manual_seed(0)

    class Norm(nn.Module):  # rms-normalised layer: (W, b) -> t (W, b) is a symmetry of no single slot
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(20, 30), nn.Linear(30, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = self.fc1(x)
            return self.fc2(torch.tanh(z / z.pow(2).mean(-1, keepdim=True).sqrt()))

    alg = discover_symmetries(Parametrization.from_module(Norm(), torch.randn(4, 20)), residual_check=False)
    assert alg.dim == 1 and alg.names[0] == "scale fc1.weight up, fc1.bias up"


def test_unstable_answers_are_never_returned(monkeypatch):
    from implicitbias.symmetry import sparse_generators

    p = Parametrization.from_module(mlp([3, 4, 2]), torch.randn(4, 3))
    monkeypatch.setattr(sparse_generators, "STABLE_RTOL", -1.0)  # no generator can pass the fresh-probe test
    with pytest.raises(UserInputError, match="did not stabilise"):
        discover_symmetries(p, max_rounds=3)


def test_hand_written_large_d_uses_sparse_path():
    d = 201  # D = 402 > STRUCTURED_MAX_DIM
    p = Parametrization(lambda q: q["u"] * q["v"], {"u": (d,), "v": (d,)})
    alg = discover_symmetries(p)
    assert alg.info["mode"] == "sparse" and alg.dim == d
    e = catalog.hadamard(d, 2)
    th = e.random_point(seed=3)
    assert max_principal_angle(alg.fields(th).to_dense(), e.algebra.fields(th).T) < 1e-8
