"""Simulator: chain independence (bit-for-bit), per-chain loop oracle, resume, NaN isolation."""

from __future__ import annotations

import math

import pytest
import torch

from implicitbias import dynamics as dyn
from implicitbias.runs import RunDir
from implicitbias.seeding import derive_seed

H, DIN = 4, 3


def relu_loss(p, batch):
    out = torch.relu(batch["x"] @ p["W"].T) @ p["V"].T
    return ((out - batch["y"]) ** 2).mean()


WT = torch.tensor([[1.0, -0.5, 0.3], [0.2, 0.9, -1.1], [-0.7, 0.4, 0.8], [0.5, 0.5, 0.5]], dtype=torch.float64)
VT = torch.tensor([[1.0, -1.0, 0.5, 0.8]], dtype=torch.float64)


def teacher(x):
    return torch.relu(x @ WT.T) @ VT.T


def make_sim(lr=0.05, T=1e-3, sigma=0.3, block=16, record_every=5):
    return dyn.Simulator(
        relu_loss, {"W": (H, DIN), "V": (1, H)},
        dyn.chain(dyn.label_noise(sigma), dyn.gradient_step(lr), dyn.langevin(lr, T)),
        data=dyn.OnlineTeacher(teacher, DIN, 1, batch_size=4),
        observables={"wnorm": lambda p: p["W"].norm(dim=1)},
        record_every=record_every, block=block,
    )


def theta0(C, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.5 * torch.randn(C, H * DIN + H, generator=g, dtype=torch.float64)


def test_chain_trajectory_independent_of_C_bitwise():
    sim = make_sim()
    th = theta0(5)
    full = sim.run(th, 77, seed=3)
    for c in range(5):
        alone = sim.run(th[c : c + 1], 77, seed=3, chain_ids=[c])
        assert torch.equal(alone.theta[0], full.theta[c])
        for k in full.records:
            torch.testing.assert_close(alone.records[k][:, 0], full.records[k][:, c], rtol=0, atol=0, equal_nan=True)
    # a different chain id gives a different trajectory (the streams really differ)
    other = sim.run(th[:1], 77, seed=3, chain_ids=[1])
    assert not torch.equal(other.theta[0], full.theta[0])


def test_simulator_matches_hand_written_per_chain_loop():
    """Oracle: plain autograd on one chain, its own generator, the documented noise layout."""
    lr, T, sigma, B, block, steps = 0.05, 1e-3, 0.3, 4, 16, 40
    sim = make_sim(lr, T, sigma, block)
    th = theta0(3)
    res = sim.run(th, steps, seed=11)
    D = th.shape[1]
    n_norm = B * DIN + B + D  # data x, rule 0 (label eps), rule 2 (langevin xi)
    for c in range(3):
        g = torch.Generator().manual_seed(derive_seed(11, "dynamics-chain", c))
        theta = th[c].clone()
        for t in range(steps):
            if t % block == 0:
                blk = torch.randn(block, n_norm, generator=g, dtype=torch.float64)
            z = blk[t % block]
            x = z[: B * DIN].view(B, DIN)
            eps = z[B * DIN : B * DIN + B].view(B, 1)
            xi = z[B * DIN + B :]
            y = teacher(x) + sigma * eps
            w = theta.clone().requires_grad_(True)
            p = {"W": w[: H * DIN].view(H, DIN), "V": w[H * DIN :].view(1, H)}
            (grad,) = torch.autograd.grad(relu_loss(p, {"x": x, "y": y}), w)
            theta = theta + (-lr * grad + math.sqrt(2 * T * lr) * xi)
        torch.testing.assert_close(res.theta[c], theta, rtol=0, atol=1e-13)


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Cfg:
        seed: int = 0

    sim = make_sim(block=16, record_every=5)
    th = theta0(3)
    ref = sim.run(th, 120, seed=5)
    rd = RunDir.open(tmp_path, "t", Cfg())
    part = make_sim(block=16, record_every=5).run(th, 120, seed=5, run_dir=rd, checkpoint_every=25, stop_after=53)
    assert not torch.equal(part.theta, ref.theta)
    ck = rd.load_checkpoint()
    assert ck is not None and ck[1]["step"] == 53
    resumed = make_sim(block=16, record_every=5).run(th, 120, seed=5, run_dir=rd, checkpoint_every=25)
    assert torch.equal(resumed.theta, ref.theta)
    for k in ref.records:
        torch.testing.assert_close(resumed.records[k], ref.records[k], rtol=0, atol=0, equal_nan=True)
    saved = rd.load_arrays("dynamics")
    assert torch.equal(saved["theta"], ref.theta)
    # a different seed must not resume the stored checkpoint
    other = make_sim(block=16, record_every=5).run(th, 120, seed=6, run_dir=rd, checkpoint_every=25)
    assert not torch.equal(other.theta, ref.theta)


def test_nan_chain_is_frozen_and_others_unaffected():
    sim = make_sim(lr=0.05)
    th = theta0(4)
    th[2, 0] = 1e200  # overflows to inf in the loss
    res = sim.run(th, 60, seed=1)
    assert res.frozen.tolist() == [False, False, True, False]
    assert res.frozen_at[2] == 1 and (res.frozen_at[[0, 1, 3]] == -1).all()
    assert torch.isfinite(res.theta).all()
    assert torch.equal(res.theta[2], th[2])  # frozen at its last finite value
    clean = sim.run(th[[0, 1, 3]], 60, seed=1, chain_ids=[0, 1, 3])
    assert torch.equal(clean.theta, res.theta[[0, 1, 3]])
    assert res.diverged == {2: 1} and clean.diverged == {}


def relu_grad(p, batch):
    """Hand-written batched gradient of :func:`relu_loss` (``(C, ...)`` tensors)."""
    x, W, V = batch["x"], p["W"], p["V"]
    P = torch.bmm(x, W.transpose(1, 2))
    R = torch.bmm(torch.relu(P), V.transpose(1, 2)) - batch["y"]
    G = R * (2.0 / (R.shape[1] * R.shape[2]))
    dV = torch.bmm(G.transpose(1, 2), torch.relu(P))
    dW = torch.bmm((torch.bmm(G, V) * (P > 0)).transpose(1, 2), x)
    return (lambda: (R * R).mean(dim=(1, 2))), {"W": dW, "V": dV}


def test_grad_hook_equals_autograd_path():
    """Oracle: the hand-written ``grad=`` path == the vmapped-autograd path on the same
    streams, rules (label noise, SGD, Langevin) and records."""
    auto = make_sim()
    hand = dyn.Simulator(
        None, {"W": (H, DIN), "V": (1, H)},
        dyn.chain(dyn.label_noise(0.3), dyn.gradient_step(0.05), dyn.langevin(0.05, 1e-3)),
        data=dyn.OnlineTeacher(teacher, DIN, 1, batch_size=4),
        observables={"wnorm": lambda p: p["W"].norm(dim=1)}, record_every=5, block=16, grad=relu_grad,
    )
    th = theta0(3)
    a, b = auto.run(th, 40, seed=2), hand.run(th, 40, seed=2)
    torch.testing.assert_close(b.theta, a.theta)
    for k in a.records:
        torch.testing.assert_close(b.records[k], a.records[k], equal_nan=True)


def test_per_chain_data_sources():
    """``per_chain=True``: chain c sees row c of the data (full batch and subsampled)."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(3, 6, 2, generator=g, dtype=torch.float64)
    full = dyn.FullBatch({"X": X}, per_chain=True)
    assert full.batch_shapes() == {"X": (6, 2)} and full.batch({}, 3)["X"] is X
    sub = dyn.Subsample({"X": X}, 4, replace=False, per_chain=True)
    u = torch.rand(3, 6, generator=g, dtype=torch.float64)
    idx = sub.indices({"u": u})
    got = sub.batch({"u": u}, 3)["X"]
    for c in range(3):
        assert len(set(idx[c].tolist())) == 4
        torch.testing.assert_close(got[c], X[c, idx[c]])


def test_bad_inputs_raise_user_errors():
    from implicitbias.errors import UserInputError

    sim = make_sim()
    with pytest.raises(UserInputError):
        sim.run(torch.zeros(2, 5, dtype=torch.float64), 3)
    with pytest.raises(UserInputError):
        dyn.projected_langevin(0.1, 1.0)
    with pytest.raises(UserInputError):
        dyn.gradient_step(-1.0)
    with pytest.raises(UserInputError):
        dyn.Simulator(relu_loss, {"W": (H, DIN), "V": (1, H)}, dyn.label_noise(0.1, key="nope"),
                      data=dyn.OnlineTeacher(teacher, DIN, 1, 4))


def test_subsample_and_projected_chains_independent_of_C_bitwise():
    """Dataset subsampling + projected noise (orbit fields of w = u ⊙ v) — same C-independence."""
    from implicitbias.dynamics import toys

    g = torch.Generator().manual_seed(0)
    X = torch.randn(12, 3, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([1.0, 0.0, -0.5], dtype=torch.float64)

    def loss(p, batch):
        return 0.5 * ((batch["x"] @ (p["u1"] * p["u2"]) - batch["y"]) ** 2).mean()

    sim = dyn.Simulator(loss, toys.diag_shapes(3, 2),
                        dyn.chain(dyn.gradient_step(0.05), dyn.projected_langevin(0.05, 0.01, fields=toys.diag_fields(3, 2))),
                        data=dyn.Subsample({"x": X, "y": y}, 4, replace=False), block=8)
    th = 1.0 + 0.1 * torch.randn(4, 6, generator=g, dtype=torch.float64)
    full = sim.run(th, 30, seed=2)
    for c in range(4):
        alone = sim.run(th[c : c + 1], 30, seed=2, chain_ids=[c])
        assert torch.equal(alone.theta[0], full.theta[c])
