"""Speed of the five paper experiments: plain single-seed loops vs our 8-chain loops.

Baseline: the way the paper's scripts train (one seed; ``nn.Module`` + autograd +
``torch.optim.SGD``; fresh data drawn each step; ratio logging at the paper's intervals).
Ours: ``<experiment>.train(config)`` with ``seeds`` chains at once (hand-written batched
gradients, block RNG, exact closed-form iterate for the vanilla linear models).

Both run ``--fraction`` of the paper's steps in the same process, one torch thread each;
full-length times are extrapolated linearly (``t / fraction``). Printed per experiment:
baseline (1 seed), ours (S seeds), wall-time ratio and seed-throughput ratio.

    python benchmarks/paper1.py                 # 5 % of the paper's steps (a few minutes)
    python benchmarks/paper1.py --fraction 1    # full length (long)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from implicitbias.data.synthetic import cosine_features, gaussian_measurements, piecewise_constant
from implicitbias.experiments.paper1 import (
    attention_balance,
    fourier_sparsity,
    matrix_completion,
    relu_balance,
    tv_recovery,
)


def _sgd_loop(params, steps: int, lr: float, loss_fn, log_every: int = 0, log_fn=None) -> None:
    opt = torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=0.0)
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if log_every and step % log_every == 0 and log_fn is not None:
            with torch.no_grad():
                log_fn()


def base_relu(steps: int) -> None:
    teacher = nn.Sequential(nn.Linear(3, 16, bias=False), nn.ReLU(), nn.Linear(16, 1, bias=False))
    student = nn.Sequential(nn.Linear(3, 16, bias=False), nn.ReLU(), nn.Linear(16, 1, bias=False))
    for p in teacher.parameters():
        nn.init.normal_(p, std=1.5)
        p.requires_grad_(False)
    for p in student.parameters():
        nn.init.normal_(p, std=0.05)
    logs = []

    def loss_fn():
        x = torch.randn(8, 3)
        y = teacher(x) + 0.1 * torch.randn(8, 1)
        return F.mse_loss(student(x), y)

    _sgd_loop(list(student.parameters()), steps, 5e-5, loss_fn, 10,
              lambda: logs.append(student[2].weight.norm(dim=0) / student[0].weight.norm(dim=1)))


def base_attention(steps: int) -> None:
    def make(std):
        return [torch.randn(16, 8) * std for _ in range(3)]

    Tq, Tk, Tv = make(0.75)
    Tq = Tq * 6.0
    W = [w.requires_grad_() for w in make(0.1)]

    def f(ws, x):
        q, k, v = (x @ w for w in ws)
        return F.scaled_dot_product_attention(q, k, v)

    logs = []

    def loss_fn():
        x = torch.randn(16, 8, 16)
        with torch.no_grad():
            y = f((Tq, Tk, Tv), x) + 0.02 * torch.randn(16, 8, 8)
        return F.mse_loss(f(W, x), y)

    _sgd_loop(W, steps, 1e-3, loss_fn, 100,
              lambda: logs.append((W[0].norm(dim=0) / W[1].norm(dim=0), torch.linalg.svdvals(W[0]).sum())))


def base_mc(steps: int) -> None:
    U, _ = torch.linalg.qr(torch.randn(20, 2))
    V, _ = torch.linalg.qr(torch.randn(20, 2))
    M = U @ torch.diag(torch.tensor([15.0, 5.0])) @ V.T
    obs = torch.rand(20, 20) < 0.2
    P = (torch.randn(20, 20) * 0.11).requires_grad_()
    Q = (torch.randn(20, 20) * 0.1).requires_grad_()
    logs = []

    def loss_fn():
        mask = obs & (torch.rand(20, 20) < 0.5)
        return (((M - P @ Q) * mask) ** 2).mean()

    _sgd_loop([P, Q], steps, 1e-3, loss_fn, 1000, lambda: logs.append(torch.linalg.svdvals(P @ Q)))


def base_fourier(steps: int) -> None:
    t = torch.rand(32)
    X = cosine_features(t, 64)
    y = X[:, 12] * 1.5 + 0.1 * torch.randn(32)
    for kind in ("vanilla", "l1", "hadamard"):
        if kind == "hadamard":
            p, q = (torch.randn(64) * 0.01).requires_grad_(), (torch.randn(64) * 0.01).requires_grad_()
            params, wf = [p, q], (lambda p=p, q=q: p * q)
        else:
            w = (torch.randn(64) * 1e-4).requires_grad_()
            params, wf = [w], (lambda w=w: w)

        def loss_fn(wf=wf, kind=kind):
            loss = F.mse_loss(X @ wf(), y)
            return loss + 0.1 * wf().abs().sum() if kind == "l1" else loss

        _sgd_loop(params, steps, 1e-3, loss_fn)


def base_tv(steps: int) -> None:
    s = piecewise_constant()
    A = gaussian_measurements(torch.Generator().manual_seed(0), 60, 200)
    y = A @ s + 0.1 * torch.randn(60)
    w = (torch.randn(200) * 1e-4).requires_grad_()
    _sgd_loop([w], steps, 0.01, lambda: F.mse_loss(A @ w, y))
    a, b = (torch.randn(200) * 0.3).requires_grad_(), (torch.randn(200) * 0.3).requires_grad_()
    _sgd_loop([a, b], steps, 1e-3, lambda: F.mse_loss(A @ torch.cumsum(a * b, 0), y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=0.05, help="fraction of the paper's steps")
    ap.add_argument("--seeds", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    f, S = args.fraction, args.seeds
    cases = [
        ("relu_balance", 40_000, base_relu, lambda n: relu_balance.train(replace(relu_balance.PRESETS["paper"], steps=n, seeds=S))),
        ("attention_balance", 50_000, base_attention,
         lambda n: attention_balance.train(replace(attention_balance.PRESETS["paper"], steps=n, seeds=S))),
        ("matrix_completion", 500_000, base_mc,
         lambda n: matrix_completion.train(replace(matrix_completion.PRESETS["paper"], steps=n, seeds=S))),
        ("fourier_sparsity", 50_000, base_fourier,
         lambda n: fourier_sparsity.train(replace(fourier_sparsity.PRESETS["paper"], steps=n, seeds=S))),
        ("tv_recovery", 1_500_000, base_tv,
         lambda n: tv_recovery.train(replace(tv_recovery.PRESETS["paper"], steps=n, snapshot_step=n // 3, seeds=S))),
    ]
    print(f"fraction of paper steps: {f}; ours runs {S} seeds; 1 torch thread; times extrapolated to full length")
    print(f"{'experiment':20s} {'steps':>9s} {'baseline 1 seed':>16s} {f'ours {S} seeds':>14s} {'wall ratio':>10s} {'seed-throughput':>16s}")
    tb = to = 0.0
    for name, steps, base, ours in cases:
        n = max(1, int(steps * f))
        torch.manual_seed(0)
        t0 = time.perf_counter()
        base(n)
        t1 = time.perf_counter()
        ours(n)
        t2 = time.perf_counter()
        b, o = (t1 - t0) / f, (t2 - t1) / f
        tb, to = tb + b, to + o
        print(f"{name:20s} {steps:9d} {b:14.1f} s {o:12.1f} s {b / o:9.2f}x {S * b / o:15.1f}x")
    print(f"{'total':20s} {'':9s} {tb:14.1f} s {to:12.1f} s {tb / to:9.2f}x {S * tb / to:15.1f}x")


if __name__ == "__main__":
    main()
