"""Benchmark: many-chain simulator vs a plain torch.optim.SGD loop (v2 Fig. 2 setting).

Bias-free ReLU 3-16-1 teacher–student, online batches B = 8, η = 5e-5, label noise 0.1,
float32, ``--steps`` steps (default 40,000). Prints wall times and the ratio
(our C = 64 chains) / (plain loop, 1 chain) for three ways of giving the simulator the
gradient: ``grad`` (a hand-written batched gradient in the ``grad=`` hook; goal ≤ 2),
``batched`` (autograd on a batched loss; goal ≤ 3) and ``vmap`` (autograd on a vmapped
per-chain loss). All are measured in this run.

Usage: ``python benchmarks/chains.py [--steps N] [--chains 1,16,64] [--threads T] [--modes grad,batched,vmap]``.
"""

from __future__ import annotations

import argparse
import time

import torch

from implicitbias import dynamics as dyn

D_IN, H, D_OUT, B, LR, SIGMA = 3, 16, 1, 8, 5e-5, 0.1


def teacher_weights(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return 1.5 * torch.randn(H, D_IN, generator=g), 1.5 * torch.randn(D_OUT, H, generator=g)


def plain_loop(steps: int, Wt: torch.Tensor, Vt: torch.Tensor) -> float:
    """The paper's way: one nn.Module, torch.optim.SGD, fresh batch each step."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(D_IN, H, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(H, D_OUT, bias=False))
    teacher = torch.nn.Sequential(torch.nn.Linear(D_IN, H, bias=False), torch.nn.ReLU(),
                                  torch.nn.Linear(H, D_OUT, bias=False))
    with torch.no_grad():
        teacher[0].weight.copy_(Wt)
        teacher[2].weight.copy_(Vt)
        for p in model.parameters():
            p.mul_(0.05 / p.std())
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.0)
    t0 = time.perf_counter()
    for _ in range(steps):
        x = torch.randn(B, D_IN)
        with torch.no_grad():
            y = teacher(x) + SIGMA * torch.randn(B, D_OUT)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def batched_loss(p: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(C, ...) tensors -> (C,) MSE losses."""
    h = torch.relu(torch.bmm(batch["x"], p["W"].transpose(1, 2)))
    out = torch.bmm(h, p["V"].transpose(1, 2))
    return ((out - batch["y"]) ** 2).mean(dim=(1, 2))


def per_chain_loss(p: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> torch.Tensor:
    out = torch.relu(batch["x"] @ p["W"].T) @ p["V"].T
    return ((out - batch["y"]) ** 2).mean()


def hand_grad(p: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]):
    """Closed-form gradient of :func:`batched_loss` (the simulator's ``grad=`` hook)."""
    x, W, V = batch["x"], p["W"], p["V"]
    P = torch.bmm(x, W.transpose(1, 2))
    Hd = torch.relu(P)
    R = torch.bmm(Hd, V.transpose(1, 2)) - batch["y"]
    G = R * (2.0 / (R.shape[1] * R.shape[2]))
    dV = torch.bmm(G.transpose(1, 2), Hd)
    dW = torch.bmm((torch.bmm(G, V) * (P > 0)).transpose(1, 2), x)
    return (lambda: (R * R).mean(dim=(1, 2))), torch.cat((dW.flatten(1), dV.flatten(1)), 1)


def ours(steps: int, C: int, Wt: torch.Tensor, Vt: torch.Tensor, mode: str) -> float:
    def teacher(x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ Wt.T) @ Vt.T

    sim = dyn.Simulator(
        per_chain_loss if mode == "vmap" else batched_loss, {"W": (H, D_IN), "V": (D_OUT, H)},
        dyn.chain(dyn.gradient_step(LR)),
        data=dyn.OnlineTeacher(teacher, D_IN, D_OUT, B, noise_std=SIGMA),
        observables={"ratio": lambda p: p["V"].abs().sum(0) / p["W"].norm(dim=-1)},
        record_every=10, dtype=torch.float32, batched_loss=mode != "vmap", batched_observables=True,
        grad=hand_grad if mode == "grad" else None,
    )
    g = torch.Generator().manual_seed(2)
    theta0 = {"W": 0.05 * torch.randn(C, H, D_IN, generator=g), "V": 0.05 * torch.randn(C, D_OUT, H, generator=g)}
    t0 = time.perf_counter()
    sim.run(theta0, steps, seed=0)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40_000)
    ap.add_argument("--chains", default="1,16,64")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--modes", default="grad,batched,vmap", help="gradient modes to time")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    Wt, Vt = teacher_weights()
    chains = [int(c) for c in args.chains.split(",")]
    print(f"ReLU 3-16-1 teacher-student, B={B}, lr={LR}, steps={args.steps}, threads={args.threads}")
    base = plain_loop(args.steps, Wt, Vt)
    print(f"plain torch.optim.SGD loop, 1 chain : {base:8.2f} s")
    last = {}
    modes = args.modes.split(",")
    for mode in modes:
        for C in chains:
            t = ours(args.steps, C, Wt, Vt, mode)
            last[(mode, C)] = t
            print(f"simulator ({mode:7s}), C={C:3d}       : {t:8.2f} s   ({t / base:5.2f}x plain, {C * base / t:6.1f}x throughput)")
    base2 = plain_loop(args.steps, Wt, Vt)
    print(f"plain loop again (drift check)      : {base2:8.2f} s")
    ref = 0.5 * (base + base2)
    for mode in modes:
        if (mode, max(chains)) in last:
            goal = "goal <= 2" if mode == "grad" else "goal <= 3"
            print(f"RATIO ({mode}) ours C={max(chains)} / plain 1 chain = {last[(mode, max(chains))] / ref:.2f} ({goal})")


if __name__ == "__main__":
    main()
