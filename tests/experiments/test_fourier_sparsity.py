"""fourier_sparsity: closed-form GD vs the loop, Hadamard vs autograd, quick-preset claims."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from implicitbias.experiments.paper1 import fourier_sparsity as E
from implicitbias.experiments.paper1.linear import (
    gd_closed_form,
    train_hadamard,
    train_vanilla,
)
from implicitbias.runs import RunDir
from implicitbias.seeding import derive_seed


def _problem(seed=0, S=2, N=6, n=9):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(S, N, n, generator=g), torch.randn(S, N, generator=g), torch.randn(S, n, generator=g) * 0.1


def test_closed_form_gd_equals_loop() -> None:
    X, y, w0 = _problem()
    loop, _ = train_vanilla(X.double(), y.double(), w0.double(), 0.02, 700)
    closed = gd_closed_form(X, y, w0, 0.02, 700)
    torch.testing.assert_close(closed.double(), loop, atol=1e-5, rtol=1e-5)


def test_hadamard_step_matches_autograd() -> None:
    X, y, _ = _problem(1)
    g = torch.Generator().manual_seed(2)
    p0, q0 = torch.randn(2, 9, generator=g, dtype=torch.float64), torch.randn(2, 9, generator=g, dtype=torch.float64)
    p1, q1, _ = train_hadamard(X.double(), y.double(), p0, q0, 0.01, 1)
    p, q = p0.clone().requires_grad_(), q0.clone().requires_grad_()
    loss = ((torch.einsum("snk,sk->sn", X.double(), p * q) - y.double()) ** 2).mean(1).sum()
    gp, gq = torch.autograd.grad(loss, (p, q))
    torch.testing.assert_close(p1, p0 - 0.01 * gp)
    torch.testing.assert_close(q1, q0 - 0.01 * gq)


def test_minibatch_uses_exactly_batch_rows() -> None:
    # With y = 0 and only row i nonzero in X, the update is nonzero iff row i is sampled;
    # over many steps the sampling frequency is batch/N.
    S, N, n = 1, 8, 1
    X = torch.zeros(S, N, n, dtype=torch.float64)
    X[0, 3, 0] = 1.0
    y = torch.zeros(S, N, dtype=torch.float64)
    hits = 0
    p, q = torch.ones(S, n, dtype=torch.float64), torch.ones(S, n, dtype=torch.float64)
    for k in range(400):
        p2, q2, _ = train_hadamard(X, y, p, q, 1e-3, 1, batch=2, seed=5, chain_ids=[k])
        hits += int(not torch.equal(p2, p))
    assert abs(hits / 400 - 2 / 8) < 0.07


def test_quick_preset_designed_beats_vanilla(tmp_path) -> None:
    cfg = E.PRESETS["quick"]
    assert cfg.seeds >= 8
    res = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg))
    m = res.metrics
    ratio = np.array(m["vanilla"]["test_mse"]) / np.array(m["hadamard"]["test_mse"])
    assert ratio[0] >= 10 and np.median(ratio) >= 10
    assert np.median(m["hadamard"]["support"]) <= 2 * cfg.k_true < np.median(m["vanilla"]["support"])
    rd = RunDir.open(tmp_path, E.ID, cfg)
    assert all((rd.path / f).stat().st_size > 1000 for f in E.figures(res, rd))


def test_closed_form_option_matches_loop_in_experiment() -> None:
    cfg = replace(E.PRESETS["quick"], seeds=2, steps=400, n_test=50)
    a = E.train(cfg)
    b = E.train(replace(cfg, vanilla_closed_form=False))
    torch.testing.assert_close(a["w_vanilla"], b["w_vanilla"], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_paper_preset(tmp_path) -> None:
    cfg = E.PRESETS["paper"]
    m = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg)).metrics
    assert np.median(np.array(m["vanilla"]["test_mse"]) / np.array(m["hadamard"]["test_mse"])) >= 10


def test_label_noise_sgd_equals_hand_loop_and_chain_alone() -> None:
    """Oracle: label-noise SGD on the simulator == a hand loop with each chain's own
    generator (``ξ (block, N)`` normals, ``y + σ ξ``) and autograd + ``torch.optim.SGD``;
    a chain run alone equals the same chain among three."""
    X, y, _ = _problem(3, S=3)
    X, y = X.double(), y.double()
    g = torch.Generator().manual_seed(4)
    p0, q0 = torch.randn(3, 9, generator=g, dtype=torch.float64), torch.randn(3, 9, generator=g, dtype=torch.float64)
    lr, steps, sigma, block = 0.02, 7, 0.5, 4
    p, q, _ = train_hadamard(X, y, p0, q0, lr, steps, label_noise=sigma, seed=9, chain_ids=[10, 11, 12], block=block)
    for c in range(3):
        gc = torch.Generator().manual_seed(derive_seed(9, "dynamics-chain", 10 + c))
        pp, qq = p0[c].clone().requires_grad_(True), q0[c].clone().requires_grad_(True)
        opt = torch.optim.SGD([pp, qq], lr=lr)
        for t in range(steps):
            if t % block == 0:
                xi = torch.randn(block, X.shape[1], generator=gc, dtype=torch.float64)
            opt.zero_grad()
            ((X[c] @ (pp * qq) - (y[c] + sigma * xi[t % block])) ** 2).mean().backward()
            opt.step()
        torch.testing.assert_close(p[c], pp.detach())
        torch.testing.assert_close(q[c], qq.detach())
    alone = train_hadamard(X[1:2], y[1:2], p0[1:2], q0[1:2], lr, steps, label_noise=sigma, seed=9, chain_ids=[11], block=block)
    assert torch.equal(alone[0][0], p[1]) and torch.equal(alone[1][0], q[1])
