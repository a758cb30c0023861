"""SymmetryMonitor against hand computations and the predictions of docs/theory.md §8.

Oracles: per-unit loops; the dense quadratic form ½θᵀSθ; the exact one-step identity
Δ_j' − Δ_j = η²(‖g_in‖² + g_b² − ‖g_out‖²) with autograd gradients; drift of full-batch GD at
a fixed time t = Kη shrinking ∝ η (gradient flow conserves Δ); weight decay multiplying Δ by
(1 − ηλ)² per step.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from implicitbias.errors import UserInputError
from implicitbias.runs.logger import JsonlLogger, read_metrics
from implicitbias.symmetry import SymmetryMonitor, catalog
from implicitbias.symmetry.monitor import relu_unit_pairs


def _mlp(widths=(5, 7, 6, 3), seed=0, unbalance=1.0) -> nn.Sequential:
    torch.manual_seed(seed)
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        lin = nn.Linear(a, b)
        if i == 0:
            with torch.no_grad():
                lin.weight.mul_(unbalance)
                lin.bias.mul_(unbalance)
        mods += [lin, nn.ReLU()]
    return nn.Sequential(*mods[:-1]).double()


def _data(n=64, d=5, k=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


def test_relu_imbalance_matches_hand_loop():
    net = _mlp()
    mon = SymmetryMonitor(net)
    assert mon.pairs == [("0", "2"), ("2", "4")] == relu_unit_pairs(net)
    vals = mon.measure()
    for a, b in mon.pairs:
        la, lb = net.get_submodule(a), net.get_submodule(b)
        wa, ba, wb = la.weight.detach(), la.bias.detach(), lb.weight.detach()
        for j in range(la.out_features):
            hand = sum(float(w) ** 2 for w in wa[j]) + float(ba[j]) ** 2 - sum(float(wb[i, j]) ** 2 for i in range(lb.out_features))
            assert math.isclose(float(vals[a][j]), hand, rel_tol=1e-12, abs_tol=1e-12)


def test_algebra_moment_map_matches_dense_quadratic_form():
    e = catalog.relu_net(3, 4, 2)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            q = e.parametrization.unflatten(e.parametrization.random_point(3))
            self.W1 = nn.Parameter(q["W1"].clone())
            self.W2 = nn.Parameter(q["W2"].clone())

    net = Net()
    mon = SymmetryMonitor(e.algebra)
    chi = mon.measure(net)["moment_map"]
    theta = torch.cat([net.W1.detach().reshape(-1), net.W2.detach().reshape(-1)])
    s = e.algebra.symmetric_part().generators
    hand = 0.5 * torch.einsum("i,aij,j->a", theta, s, theta)
    torch.testing.assert_close(chi, hand, rtol=1e-12, atol=1e-12)
    s_alg = e.algebra.symmetric_part()
    s_alg.groups = ["rescale W1"] * 2 + ["other"] * 2  # labelled generators are summarised per group
    grouped = SymmetryMonitor(e.algebra).measure(net)
    torch.testing.assert_close(torch.cat([grouped["rescale W1"], grouped["other"]]), hand)
    del s_alg.groups
    # the catalogue basis is symmetric already: chi_j = ½(‖W1[j]‖² − ‖W2[:, j]‖²) up to a fixed basis change
    per_unit = 0.5 * (net.W1.detach().pow(2).sum(1) - net.W2.detach().pow(2).sum(0))
    assert chi.norm() == pytest.approx(float(per_unit.norm()), rel=1e-10)


def test_every_logger_and_save_roundtrip(tmp_path):
    from safetensors.torch import load_file

    net = _mlp()
    with JsonlLogger(tmp_path / "metrics.jsonl") as log:
        mon = SymmetryMonitor(net, every=3, logger=log)
        outs = [mon(s, net) for s in range(7)]
    assert [o is not None for o in outs] == [True, False, False, True, False, False, True]
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [0, 3, 6]
    assert rows[0]["sym/0/max_abs"] == pytest.approx(float(mon.measure()["0"].abs().max()))
    arr = load_file(str(mon.save(tmp_path / "imb.safetensors")))
    assert arr["steps"].tolist() == [0, 3, 6] and arr["0"].shape == (3, 7) and arr["2"].shape == (3, 6)


def test_bad_sources_raise_user_input_error():
    with pytest.raises(UserInputError):
        SymmetryMonitor(object())
    with pytest.raises(UserInputError):
        SymmetryMonitor(nn.Linear(3, 2))  # nothing to pair
    with pytest.raises(UserInputError):
        SymmetryMonitor(_mlp(), every=0)
    with pytest.raises(UserInputError):
        SymmetryMonitor(_mlp(), pairs=[("0", "4")])  # widths 7 vs 6


def _train(net, lr, steps, wd=0.0, opt="sgd", full_batch=True, seed=0):
    x, y = _data(seed=seed)
    o = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=wd) if opt == "sgd" else torch.optim.Adam(net.parameters(), lr=lr)
    mon = SymmetryMonitor(net)
    mon(0, net)
    for s in range(1, steps + 1):
        o.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        o.step()
        mon(s, net)
    return mon


def test_sgd_step_changes_imbalance_by_eta_squared_gsg_exactly():
    net, lr = _mlp(), 0.3
    x, y = _data()
    mon = SymmetryMonitor(net)
    before = mon.measure()
    nn.functional.cross_entropy(net(x), y).backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    torch.optim.SGD(net.parameters(), lr=lr).step()
    after = mon.measure()
    for a, b in mon.pairs:
        pred = lr**2 * (grads[f"{a}.weight"].pow(2).sum(1) + grads[f"{a}.bias"].pow(2) - grads[f"{b}.weight"].pow(2).sum(0))
        torch.testing.assert_close(after[a] - before[a], pred, rtol=1e-7, atol=1e-13)
        assert pred.abs().max() > 1e-6  # the O(η²) term is really there


def test_gradient_flow_conserves_imbalance():
    """Full-batch GD to a fixed time t = Kη: the drift of Δ shrinks ∝ η (→ 0 as η → 0)."""
    drifts = []
    for lr, k in ((0.2, 25), (0.05, 100), (0.0125, 400)):
        h = _train(_mlp(unbalance=2.0), lr, k).history()
        scale = float(h["0"][0].abs().mean())
        drifts.append(max(float((h[g][-1] - h[g][0]).abs().max()) for g in ("0", "2")) / scale)
    assert drifts[0] > 1e-3  # measurable at the largest step
    for big, small in zip(drifts[:-1], drifts[1:], strict=False):
        assert 0.15 < small / big < 0.35  # first order in η: ratio 1/4
    assert drifts[-1] < 1e-3


def test_weight_decay_shrinks_imbalance_at_rate_two_lr_wd():
    lr, wd, k = 1e-3, 5.0, 200
    h = _train(_mlp(unbalance=3.0), lr, k, wd=wd).history()
    for g in ("0", "2"):
        ratio = h[g][-1] / h[g][0]
        keep = h[g][0].abs() > 0.1 * h[g][0].abs().max()
        exact = (1 - lr * wd) ** (2 * k)
        torch.testing.assert_close(ratio[keep], torch.full_like(ratio[keep], exact), rtol=2e-3, atol=0)
        rate = -torch.log(ratio[keep]) / k
        assert float((rate / (2 * lr * wd) - 1).abs().max()) < 0.01  # rate 2ηλ to first order in ηλ


def test_adam_breaks_conservation_sgd_keeps_it():
    """At the same small step count and lr, Adam moves Δ at first order, SGD at second."""
    h_sgd = _train(_mlp(unbalance=2.0), 1e-3, 50).history()
    h_adam = _train(_mlp(unbalance=2.0), 1e-3, 50, opt="adam").history()
    d_sgd = float((h_sgd["0"][-1] - h_sgd["0"][0]).abs().max())
    d_adam = float((h_adam["0"][-1] - h_adam["0"][0]).abs().max())
    assert d_adam > 100 * d_sgd


def test_monitor_as_ff_trainer_callback(tmp_path):
    """In train_run: summaries land in metrics.jsonl; the last record = hand computation on the saved weights."""
    import dataclasses

    from implicitbias.ff import get_preset, resolve_config, train_run
    from implicitbias.runs.atomic import load_tensors

    cfg = resolve_config(dataclasses.replace(get_preset("DIGITS_quick"), algo="bp", hidden=(16, 8), epochs=1))
    mon = SymmetryMonitor("relu")  # pairs found on the trainer's network at the first call
    run = train_run(cfg, out_root=tmp_path, device="cpu", callbacks=[mon])
    assert mon.pairs == [("layers.0", "layers.1"), ("layers.1", "head")]
    rows = [r for r in run.metrics() if r.get("kind") == "callback"]
    assert [r["step"] for r in rows] == mon.steps.tolist() and len(rows) > 5
    w = load_tensors(run.path / "model.safetensors")
    hand = w["layers.1.weight"].double().pow(2).sum(1) + w["layers.1.bias"].double().pow(2) - w["head.weight"].double().pow(2).sum(0)
    last = mon.history()["layers.1"][-1]
    torch.testing.assert_close(last, hand, rtol=1e-6, atol=1e-7)
    assert rows[-1]["sym/layers.1/max_abs"] == pytest.approx(float(last.abs().max()), rel=1e-9)


def test_adam_drift_is_first_order_it_survives_lr_to_zero():
    """Full-batch Adam to a fixed time t = Kη: the drift of Δ stays put as η → 0 (GD's falls ∝ η)."""
    drifts = []
    for lr, k in ((4e-3, 25), (1e-3, 100)):
        h = _train(_mlp(unbalance=2.0), lr, k, opt="adam").history()
        drifts.append(float((h["0"][-1] - h["0"][0]).abs().max()))
    assert 0.5 < drifts[1] / drifts[0] < 2.0  # GD: 0.25 (test_gradient_flow_conserves_imbalance)
