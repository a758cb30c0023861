"""``ff.optim.Optimizer`` against ``torch.optim`` step by step, and its flat state round trip."""

from __future__ import annotations

import pytest
import torch

from implicitbias.ff.optim import Optimizer

CASES = [  # the settings the presets use (Adam; SGD + momentum + weight decay), plus Adam + wd
    ("adam", dict(weight_decay=0.0)),
    ("adam", dict(weight_decay=1e-3)),
    ("sgd", dict(weight_decay=1e-3, momentum=0.9)),
    ("sgd", dict(weight_decay=3e-4, momentum=0.9)),
]


def _reference(kind, params, lr, weight_decay, momentum=0.9):
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@pytest.mark.parametrize("kind,kw", CASES)
@pytest.mark.parametrize("contiguous", [True, False])
def test_steps_match_torch_optim(kind, kw, contiguous):
    """Same parameters after 30 steps with a changing lr (as the cooldown schedule does)."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(20, 12, generator=g)
    base = [w if contiguous else w.t(), torch.randn(12, generator=g)]  # a transposed view: the unfused path
    ours = [torch.nn.Parameter(t.clone()) for t in base]
    ref = [torch.nn.Parameter(t.clone()) for t in base]
    opt, ref_opt = Optimizer(ours, kind, 1e-2, **kw), _reference(kind, ref, 1e-2, **kw)
    for t in range(30):
        lr = 1e-2 * (1.0 - t / 60)
        opt.lr = lr
        ref_opt.param_groups[0]["lr"] = lr
        grads = [torch.randn(p.shape, generator=g) for p in ours]
        for p, q, gr in zip(ours, ref, grads, strict=True):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt.step()
        ref_opt.step()
        for p, q in zip(ours, ref, strict=True):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    assert not torch.equal(ours[0].detach(), base[0])


@pytest.mark.parametrize("kind,kw", CASES[1:3])
def test_state_round_trip_resumes_bitwise(kind, kw):
    g = torch.Generator().manual_seed(2)
    grads = [[torch.randn(8, 5, generator=g), torch.randn(5, generator=g)] for _ in range(10)]
    p0 = [torch.randn(8, 5, generator=g), torch.randn(5, generator=g)]

    def run(split: int | None) -> list[torch.Tensor]:
        ps = [torch.nn.Parameter(t.clone()) for t in p0]
        opt = Optimizer(ps, kind, 1e-2, **kw)
        for t, gr in enumerate(grads):
            if t == split:  # checkpoint and restore into a fresh optimiser
                state = {k: v.clone() for k, v in opt.state_tensors("opt").items()}
                opt = Optimizer(ps, kind, 1e-2, **kw)
                opt.load_state_tensors(state, "opt")
            for p, x in zip(ps, gr, strict=True):
                p.grad = x.clone()
            opt.step()
        return [p.detach() for p in ps]

    for a, b in zip(run(None), run(4), strict=True):
        assert torch.equal(a, b)
