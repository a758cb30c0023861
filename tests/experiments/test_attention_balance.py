"""attention_balance: manual gradients vs autograd, simulator chains, quick-preset balancing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from implicitbias.experiments.paper1 import attention_balance as E
from implicitbias.runs import RunDir
from implicitbias.seeding import derive_seed


def test_attention_forward_matches_sdpa_and_grads_match_autograd() -> None:
    g = torch.Generator().manual_seed(0)
    S, N, L, d, h = 2, 3, 5, 6, 4
    Wq, Wk, Wv = (torch.randn(S, d, h, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    X = torch.randn(S, N, L, d, generator=g, dtype=torch.float64)
    Y = torch.randn(S, N, L, h, generator=g, dtype=torch.float64)
    Q, K, V = (torch.einsum("snld,sdh->snlh", X, w) for w in (Wq, Wk, Wv))
    ref = F.scaled_dot_product_attention(Q, K, V)
    torch.testing.assert_close(E.attention_forward(Wq.detach(), Wk.detach(), Wv.detach(), X), ref.detach())
    lref = ((ref - Y) ** 2).reshape(S, -1).mean(1)
    gq, gk, gv = torch.autograd.grad(lref.sum(), (Wq, Wk, Wv))
    loss, dq, dk, dv = E.attention_grads(Wq.detach(), Wk.detach(), Wv.detach(), X, Y)
    torch.testing.assert_close(loss, lref.detach())
    for a, b in ((dq, gq), (dk, gk), (dv, gv)):
        torch.testing.assert_close(a, b)


def test_chains_come_from_the_simulator() -> None:
    # Global chain 3 run alone (seed=3, seeds=1) equals chain 3 of an 8-chain run
    # bit for bit: its init, teacher and data stream depend only on its index.
    cfg = replace(E.PRESETS["quick"], steps=200, log_every=50)
    many = E.train(replace(cfg, seed=0, seeds=8))
    one = E.train(replace(cfg, seed=3, seeds=1))
    for k in ("Wq", "Wk", "Wv"):
        assert torch.equal(many[k][3], one[k][0])
    for k in ("col_ratios", "fro_ratio", "nuc_ratio"):
        assert torch.equal(many[k][:, 3], one[k][:, 0])
    assert torch.equal(many["loss"][1:, 3], one["loss"][1:, 0]) and torch.isnan(one["loss"][0]).all()
    assert many["steps"].tolist() == [0, 50, 100, 150, 200]
    assert not torch.allclose(many["Wq"][3], many["Wq"][4])
    # The simulator's records agree with the closed-form statistics of its parameters.
    col, fro, nuc = E._norm_stats(many["Wq"], many["Wk"])
    torch.testing.assert_close(many["col_ratios"][-1], col)
    torch.testing.assert_close(many["fro_ratio"][-1], fro)
    torch.testing.assert_close(many["nuc_ratio"][-1], nuc)
    # Recorded minibatch losses are finite after step 0.
    assert torch.isfinite(many["loss"][1:]).all()


def test_simulator_gradient_matches_closed_form() -> None:
    cfg = replace(E.PRESETS["quick"], seeds=2)
    theta0, teacher = E._init(cfg, [0, 1])
    sim = E.simulator(cfg, teacher)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, cfg.batch * cfg.seq, cfg.d_emb, generator=g)
    eps = torch.randn(2, cfg.batch * cfg.seq, cfg.d_head, generator=g)
    th = sim.layout.flatten({"W": E.fuse(theta0["Wq"], theta0["Wk"], theta0["Wv"])})
    loss, grad = sim._grad(sim.layout.unflatten(th), {"x": x, "eps": eps})
    # Oracle: plain autograd through attention_forward on the same parameters and batch,
    # targets from the teacher plus label noise.
    shp = (2, cfg.batch, cfg.seq)
    y = E.attention_forward(*teacher, x.view(*shp, cfg.d_emb)) + cfg.label_noise * eps.view(*shp, cfg.d_head)
    ws = {k: v.clone().requires_grad_(True) for k, v in theta0.items()}
    out = E.attention_forward(ws["Wq"], ws["Wk"], ws["Wv"], x.view(*shp, cfg.d_emb))
    ref = ((out - y.view(*shp, cfg.d_head)) ** 2).reshape(2, -1).mean(1)
    gq, gk, gv = torch.autograd.grad(ref.sum(), (ws["Wq"], ws["Wk"], ws["Wv"]))
    torch.testing.assert_close(loss(), ref.detach())
    torch.testing.assert_close(grad, E.fuse(gq, gk, gv).flatten(1))


def test_one_step_equals_plain_sgd_on_the_documented_stream() -> None:
    """Oracle: 3 simulator steps of chain 5 == a hand loop with its own generator, the
    documented noise layout (x then label noise, blocks of ``block`` steps) and
    ``torch.optim.SGD`` on autograd through :func:`attention_forward`."""
    cfg = replace(E.PRESETS["quick"], seed=5, seeds=1, steps=3, log_every=1, block=4)
    theta0, teacher = E._init(cfg, [5])
    a = E.train(cfg)
    N, L, d, h = cfg.batch, cfg.seq, cfg.d_emb, cfg.d_head
    g = torch.Generator().manual_seed(derive_seed(E.DATA_SEED, "dynamics-chain", 5))
    blk = torch.randn(cfg.block, N * L * (d + h), generator=g)
    ws = [theta0[k][0].clone().requires_grad_(True) for k in ("Wq", "Wk", "Wv")]
    opt = torch.optim.SGD(ws, lr=cfg.lr)
    for t in range(cfg.steps):
        x = blk[t, : N * L * d].view(1, N, L, d)
        eps = blk[t, N * L * d :].view(1, N, L, h)
        y = E.attention_forward(*teacher, x) + cfg.label_noise * eps
        opt.zero_grad()
        ((E.attention_forward(*(w[None] for w in ws), x) - y) ** 2).mean().backward()
        opt.step()
    for w, k in zip(ws, ("Wq", "Wk", "Wv"), strict=True):
        torch.testing.assert_close(a[k][0], w.detach(), rtol=1e-4, atol=1e-6)


def test_quick_preset_column_ratios_end_near_one(tmp_path) -> None:
    cfg = E.PRESETS["quick"]
    assert cfg.seeds >= 8
    res = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg))
    m = res.metrics
    lo, hi = np.array(m["final_col_min"]), np.array(m["final_col_max"])
    assert (np.abs(lo - 1) <= 0.1).all() and (np.abs(hi - 1) <= 0.1).all()
    # Frobenius ratio moves from far below 1 to within 10% of 1.
    assert np.median(m["fro_start"]) < 0.8
    assert (np.abs(np.array(m["fro_final"]) - 1) <= 0.1).all()
    rd = RunDir.open(tmp_path, E.ID, cfg)
    assert all((rd.path / f).stat().st_size > 1000 for f in E.figures(res, rd))


@pytest.mark.slow
def test_paper_preset_balances(tmp_path) -> None:
    # Measured at the paper's settings (lr 1e-3, 50k steps): the columns end in ≈ [0.89, 1.07]
    # over 8 seeds (paper, one seed: [0.935, 1.012]); Frobenius/nuclear ratios ≈ 0.98.
    cfg = E.PRESETS["paper"]
    m = E.run(cfg, RunDir.open(tmp_path, E.ID, cfg)).metrics
    assert (np.abs(np.array(m["final_col_min"]) - 1) <= 0.15).all()
    assert (np.abs(np.array(m["final_col_max"]) - 1) <= 0.15).all()
    assert (np.abs(np.array(m["fro_final"]) - 1) <= 0.05).all()
    assert (np.abs(np.array(m["nuc_final"]) - 1) <= 0.05).all()
