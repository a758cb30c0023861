"""Speed of the five paper experiments: the official training loop (1 seed) vs ours (8 seeds).

Baseline = the authors' training loop as their scripts run it (read for its facts, not
copied): one ``nn.Module``; every step a fresh teacher batch (ReLU, attention) or a fresh
batch mask (completion), ``optimizer.zero_grad(set_to_none=True)``, ``loss.backward()``,
``torch.optim.SGD(lr, momentum=0, weight_decay=0).step()``; their logging cadence
(ReLU: per-unit ratios every 10 steps; attention: column ratios plus Frobenius and nuclear
ratios via ``.item()`` every 100 steps; completion: 2·svdvals(PQ), svdvals(P), svdvals(Q)
and mode ratios every 1,000 steps; Fourier: train loss and the 10,000-point test loss at
every step, for each of the three models; TV: the train loss at every step, for both
models). Float32, one seed, the paper's step counts (TV: 1.5 M steps per model, the length
of the saved run). The "extended training for accuracy" tails of the ReLU and attention
scripts (to 500 k / 300 k steps, for a printout only) are not part of the figure runs and
are left out on both sides.

Ours = ``<experiment>.train(paper preset, seeds=S)``: S chains on
``implicitbias.dynamics.Simulator`` with the hand-written batched gradients.

Both run ``--fraction`` of the paper's steps in the same process, one torch thread each,
alternating baseline and ours per experiment; full-length times are extrapolated linearly
(``t / fraction``). Printed per experiment: baseline (1 seed), ours (S seeds), wall-time
ratio baseline/ours (goal > 1: S seeds of ours faster than 1 official seed).

    python benchmarks/paper1.py                  # 5 % of the paper's steps
    python benchmarks/paper1.py --fraction 0.2 --only attention_balance
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from implicitbias.data.synthetic import cosine_features, piecewise_constant
from implicitbias.experiments.paper1 import (
    attention_balance,
    fourier_sparsity,
    matrix_completion,
    relu_balance,
    tv_recovery,
)


# ---- the official loop, written out from the paper's code (facts only) -------------------
def _sgd(params, lr: float) -> Callable[[torch.Tensor], None]:
    """The official step: ``zero_grad(set_to_none=True)``, ``backward``, ``SGD.step``."""
    opt = torch.optim.SGD(params, lr=lr, momentum=0, weight_decay=0)

    def step(loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _online_loss(teacher: nn.Module, student: nn.Module, shape: tuple[int, ...], sigma: float) -> torch.Tensor:
    """A fresh teacher batch (``x ~ N(0, I)``, ``y = teacher(x) + σ ε``, no grad) and the
    student's ``mean((y − f(x))²)``."""
    with torch.no_grad():
        x = torch.randn(shape)
        y = teacher(x)
        y = y + torch.randn_like(y) * sigma
    return torch.mean((y - student(x)) ** 2)


def _logged(step: int, steps: int, every: int) -> bool:
    return step % every == 0 or step in (1, steps)


class ReluNet(nn.Module):
    """Bias-free ``Linear -> ReLU -> Linear`` with N(0, std²) weights."""

    def __init__(self, d: int, h: int, o: int, std: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d, h, bias=False), nn.Linear(h, o, bias=False)])
        for layer in self.layers:
            nn.init.normal_(layer.weight, std=std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](F.relu(self.layers[0](x)))


class Attention(nn.Module):
    """Single head, no output projection: ``sdpa(x W_Q, x W_K, x W_V)``, scale ``1/√h``."""

    def __init__(self, d: int, h: int, std: float) -> None:
        super().__init__()
        self.wq, self.wk, self.wv = (nn.Parameter(torch.randn(d, h) * std) for _ in range(3))
        self.scale = 1.0 / math.sqrt(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(x @ self.wq, x @ self.wk, x @ self.wv, scale=self.scale)


class Factorization(nn.Module):
    """``M = P Q`` with ``P ~ N(0, (1.1 std)²)``, ``Q ~ N(0, std²)``."""

    def __init__(self, m: int, r: int, std: float = 0.1) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.randn(m, r) * 1.1 * std)
        self.q = nn.Parameter(torch.randn(r, m) * std)

    def forward(self) -> torch.Tensor:
        return self.p @ self.q


class Linear1D(nn.Module):
    """``x @ w`` with ``w`` one of: a vector, ``p ⊙ q``, ``cumsum(a ⊙ b)``."""

    def __init__(self, n: int, kind: str, std: float) -> None:
        super().__init__()
        self.kind = kind
        if kind == "vanilla":
            self.a = nn.Parameter(torch.randn(n) * std)
        else:
            self.a, self.b = nn.Parameter(torch.randn(n) * std), nn.Parameter(torch.randn(n) * std)

    @property
    def w(self) -> torch.Tensor:
        if self.kind == "vanilla":
            return self.a
        c = self.a * self.b
        return torch.cumsum(c, 0) if self.kind == "cumsum" else c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


def official_relu(steps: int) -> None:
    teacher, student = ReluNet(3, 16, 1, 1.5), ReluNet(3, 16, 1, 0.05)
    for p in teacher.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        s = torch.exp(torch.linspace(-1.2, 1.2, 16))
        student.layers[0].weight.mul_(s[:, None])
        student.layers[1].weight.div_(s[None, :])
    lr = 5e-5
    step_fn, losses, ratios = _sgd(student.parameters(), lr), [], []
    for step in range(1, steps + 1):
        loss = _online_loss(teacher, student, (8, 3), 0.1)
        step_fn(loss)
        with torch.no_grad():
            if _logged(step, steps, 10):
                v = torch.linalg.vector_norm(student.layers[1].weight.detach().clone(), dim=0)
                w = torch.linalg.vector_norm(student.layers[0].weight.detach().clone(), dim=-1)
                ratios.append((v / (w + 1e-12)).cpu())
                losses.append(loss.detach())


def official_attention(steps: int) -> None:
    teacher, student = Attention(16, 8, 0.75), Attention(16, 8, 0.1)
    for p in teacher.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        s = torch.exp(torch.linspace(-1.2, 1.2, 8))
        student.wq.mul_(s)
        student.wk.div_(s)
        teacher.wq.mul_(4 + abs(torch.randn(1).item()) * 4)
        student.wq.mul_(1 / 4 + abs(torch.randn(1).item()) / 4)
    lr = 1e-3
    step_fn, logs = _sgd(student.parameters(), lr), []
    for step in range(1, steps + 1):
        loss = _online_loss(teacher, student, (16, 8, 16), 0.02)
        step_fn(loss)
        with torch.no_grad():
            if _logged(step, steps, 100):
                wq, wk = student.wq.detach().clone(), student.wk.detach().clone()
                col = torch.linalg.vector_norm(wq, dim=0) / (torch.linalg.vector_norm(wk, dim=0) + 1e-12)
                fro = (torch.linalg.matrix_norm(wq, ord="fro") / (torch.linalg.matrix_norm(wk, ord="fro") + 1e-12)).item()
                nuc = (torch.linalg.matrix_norm(wq, ord="nuc") / (torch.linalg.matrix_norm(wk, ord="nuc") + 1e-12)).item()
                logs.append((col.cpu(), fro, nuc, loss.detach()))


def official_mc(steps: int) -> None:
    u = torch.linalg.qr(torch.randn(20, 2))[0]
    v = torch.linalg.qr(torch.randn(20, 2))[0]
    m_true = u @ torch.diag(torch.tensor([15.0, 5.0])) @ v.T
    obs = torch.rand(20, 20) < 0.2
    model = Factorization(20, 20)
    lr = 1e-3
    step_fn, logs = _sgd(model.parameters(), lr), []
    for step in range(1, steps + 1):
        pred = model()
        mask = obs & (torch.rand_like(obs, dtype=torch.float) < 0.5)
        loss = ((m_true - pred) * mask).pow(2).mean()
        step_fn(loss)
        with torch.no_grad():
            if _logged(step, steps, 1000):
                p, q = model.p.detach().clone(), model.q.detach().clone()
                logs.append((
                    2 * torch.linalg.svdvals(p @ q).sort(descending=True).values,
                    torch.linalg.svdvals(p).sort(descending=True).values,
                    torch.linalg.svdvals(q).sort(descending=True).values,
                    torch.linalg.vector_norm(p, dim=0) / (torch.linalg.vector_norm(q, dim=1) + 1e-12),
                    loss.detach(),
                ))


def official_fourier(steps: int) -> None:
    t = torch.rand(32, 1)
    w_true = torch.zeros(64)
    w_true[torch.randperm(63)[:3] + 1] = torch.rand(3) + 1.0
    x_train = cosine_features(t[:, 0], 64)
    y_train = x_train @ w_true + 0.1 * torch.randn(32)
    x_test = cosine_features(torch.rand(10_000), 64)
    y_test = x_test @ w_true
    lr = 1e-3
    for kind, l1 in (("vanilla", 0.0), ("vanilla", 0.1), ("hadamard", 0.0)):
        model = Linear1D(64, kind, 1e-4 if kind == "vanilla" else 1e-2)
        step_fn = _sgd(model.parameters(), lr)
        train_losses, test_losses = torch.empty(steps), torch.empty(steps)
        for i in range(steps):
            mse = F.mse_loss(model(x_train), y_train)
            step_fn(mse + l1 * model.w.abs().sum() if l1 > 0 else mse)
            with torch.no_grad():
                test_losses[i] = F.mse_loss(model(x_test), y_test).detach()
            train_losses[i] = mse.detach()


def official_tv(steps: int) -> None:
    s = piecewise_constant()
    a = torch.randn(60, 200) / math.sqrt(60)
    y = a @ s + torch.randn(60) * 0.1
    for kind, std, lr in (("vanilla", 1e-4, 0.01), ("cumsum", 0.3, 1e-3)):
        model = Linear1D(200, kind, std)
        step_fn, losses = _sgd(model.parameters(), lr), torch.empty(steps)
        for i in range(steps):
            mse = F.mse_loss(model(a), y)
            step_fn(mse)
            losses[i] = mse.detach()


CASES = {
    "relu_balance": (40_000, official_relu, lambda n, S: relu_balance.train(replace(relu_balance.PRESETS["paper"], steps=n, seeds=S))),
    "attention_balance": (50_000, official_attention,
                          lambda n, S: attention_balance.train(replace(attention_balance.PRESETS["paper"], steps=n, seeds=S))),
    "matrix_completion": (500_000, official_mc,
                          lambda n, S: matrix_completion.train(replace(matrix_completion.PRESETS["paper"], steps=n, seeds=S))),
    "fourier_sparsity": (50_000, official_fourier,
                         lambda n, S: fourier_sparsity.train(replace(fourier_sparsity.PRESETS["paper"], steps=n, seeds=S))),
    "tv_recovery": (1_500_000, official_tv,
                    lambda n, S: tv_recovery.train(replace(tv_recovery.PRESETS["paper"], steps=n, snapshot_step=n // 3, seeds=S))),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=0.05, help="fraction of the paper's steps")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--only", default="", help="comma-separated experiment ids (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    f, S = args.fraction, args.seeds
    names = [n for n in CASES if not args.only or n in args.only.split(",")]
    print(f"fraction of paper steps: {f}; ours runs {S} seeds; 1 torch thread; times extrapolated to full length")
    print(f"{'experiment':20s} {'steps':>9s} {'official 1 seed':>16s} {f'ours {S} seeds':>14s} {'official/ours':>13s}")
    tb = to = 0.0
    for name in names:
        steps, base, ours = CASES[name]
        n = max(1, int(steps * f))
        base(min(n, 20))  # warm-up (first autograd / kernel calls) outside the timings
        ours(min(n, 20), S)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        base(n)
        t1 = time.perf_counter()
        ours(n, S)
        t2 = time.perf_counter()
        b, o = (t1 - t0) / f, (t2 - t1) / f
        tb, to = tb + b, to + o
        print(f"{name:20s} {steps:9d} {b:14.1f} s {o:12.1f} s {b / o:12.2f}x", flush=True)
    print(f"{'total':20s} {'':9s} {tb:14.1f} s {to:12.1f} s {tb / to:12.2f}x")


if __name__ == "__main__":
    main()
