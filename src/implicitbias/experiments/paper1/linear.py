"""Simulator-based, seed-batched trainers for the linear inverse problems of v2 Figs. 5-6 and the ablation.

Problem (per chain ``s``): features ``X (N, n)``, targets ``y (N,)``, loss
``L(c) = (1/N) Σ_i (X c − y)_i²``. Three models:

* vanilla ``c = w`` — plain gradient descent is an affine iteration
  ``w ← (I − α H) w + α g`` with ``H = (2/N) XᵀX``, ``g = (2/N) Xᵀy``; after ``k`` steps, in
  the eigenbasis ``H = U diag(λ) Uᵀ``: ``w_k = w* + U diag((1 − αλ)^k) Uᵀ (w_0 − w*)`` for
  any ``w*`` with ``H w* = g`` on range(H). :func:`gd_closed_form` evaluates this exactly
  (float64) in O(n³), independent of ``k``; :func:`train_vanilla` runs the loop (optionally
  with an ℓ1 subgradient ``λ sign(w)``).
* Hadamard ``c = p ⊙ q``: ``∂L/∂p = ∇L(c) ⊙ q``, ``∂L/∂q = ∇L(c) ⊙ p``, with optional
  minibatch noise (a uniformly random subset of ``B`` rows per step, loss the batch mean)
  and label noise (fresh ``y + σ ξ`` every step, ``ξ ~ N(0, I)``).

Both loops run on :class:`implicitbias.dynamics.Simulator` with these closed-form gradients
in its ``grad=`` hook (per-chain data via ``FullBatch``/``Subsample(per_chain=True)``, label
noise via the ``label_noise`` rule, the ℓ1 subgradient via a ``drift`` rule).

Shapes: ``X (S, N, n)``, ``y (S, N)``, parameters ``(S, n)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from implicitbias import dynamics as dyn
from implicitbias.experiments.base import raise_if_diverged

__all__ = ["gd_closed_form", "train_vanilla", "train_hadamard"]


def gd_closed_form(
    X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, lr: float, steps: int
) -> torch.Tensor:
    """Exact full-batch GD iterate after ``steps`` steps for ``mean((X w − y)²)``.

    Args:
        X: ``(S, N, n)``; y: ``(S, N)``; w0: ``(S, n)``; lr: step size; steps: count.

    Returns:
        ``w_steps (S, n)`` (float32; computed in float64).
    """
    Xd, yd, w = X.double(), y.double(), w0.double()
    N = X.shape[1]
    H = (2.0 / N) * Xd.transpose(1, 2) @ Xd
    g = (2.0 / N) * (Xd.transpose(1, 2) @ yd[..., None])[..., 0]
    lam, U = torch.linalg.eigh(H)
    # Coordinates in the eigenbasis: each evolves as z <- (1 - lr λ) z + lr ĝ.
    z0 = (U.transpose(1, 2) @ w[..., None])[..., 0]
    gh = (U.transpose(1, 2) @ g[..., None])[..., 0]
    rho = 1.0 - lr * lam
    rk = rho**steps
    # Σ_{j<k} ρ^j = (1 − ρ^k)/(1 − ρ), and = k where ρ = 1 (λ = 0).
    small = (lr * lam).abs() < 1e-12
    geo = torch.where(small, torch.full_like(rho, float(steps)), (1.0 - rk) / torch.where(small, torch.ones_like(lam), lr * lam))
    zk = rk * z0 + lr * geo * gh
    return (U @ zk[..., None])[..., 0].float()


def _linear_sim(X: torch.Tensor, y: torch.Tensor, shapes: dict, grad, rules: list, batch: int,
                label_noise: float, log_every: int, block: int, observables: dict) -> dyn.Simulator:
    """Simulator over per-chain data ``X (S, N, n)``, ``y (S, N)``: full batch, or ``batch``
    rows drawn without replacement each step; optional fresh label noise on ``y``."""
    N = X.shape[1]
    data = {"X": X, "y": y}
    src = dyn.Subsample(data, batch, replace=False, per_chain=True) if 0 < batch < N else dyn.FullBatch(data, per_chain=True)
    pre = [dyn.label_noise(label_noise)] if label_noise > 0 else []
    return dyn.Simulator(
        None, shapes, dyn.chain(*pre, *rules), data=src, observables=observables,
        record_every=max(log_every, 1), block=block, dtype=X.dtype, device=X.device,
        batched_observables=True, grad=grad,
    )


def _full_loss(X: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``(S,)`` full-batch ``mean((X c − y)²)``."""
    r = torch.bmm(X, c[..., None])[..., 0] - y
    return (r * r).mean(1)


def _log(res: dyn.SimResult, log_every: int, S: int) -> torch.Tensor:
    """Records after ``log_every, 2·log_every, …`` steps (the step-0 record dropped)."""
    return res.records["train_loss"][1:] if log_every else torch.zeros(0, S)


def train_vanilla(
    X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, lr: float, steps: int, l1: float = 0.0,
    log_every: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-batch (sub)gradient descent on ``mean((Xw − y)²) + l1 ‖w‖₁`` on the simulator.

    The ℓ1 subgradient enters as a drift ``−l1 sign(w)`` evaluated at the current iterate.

    Returns:
        ``(w (S, n), train_loss_log (n_logs, S))`` — the log holds the data loss only, after
        ``log_every, 2·log_every, …`` steps.
    """
    S, N, n = X.shape

    def grad(p: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
        Xb = batch["X"]
        r = torch.bmm(Xb, p["w"][..., None])[..., 0] - batch["y"]
        return (lambda: (r * r).mean(1)), torch.bmm(r[:, None, :], Xb)[:, 0] * (2.0 / Xb.shape[1])

    rules = [dyn.gradient_step(lr)] + ([dyn.drift(lr * l1, lambda th: -torch.sign(th))] if l1 else [])
    obs = {"train_loss": lambda p: _full_loss(X, y, p["w"])} if log_every else {}
    res = _linear_sim(X, y, {"w": (n,)}, grad, rules, 0, 0.0, log_every, 256, obs).run(w0, steps)
    raise_if_diverged("vanilla model", res, "w")
    return res.theta, _log(res, log_every, S)


def train_hadamard(
    X: torch.Tensor,
    y: torch.Tensor,
    p0: torch.Tensor,
    q0: torch.Tensor,
    lr: float,
    steps: int,
    *,
    batch: int = 0,
    label_noise: float = 0.0,
    seed: int = 0,
    chain_ids: Sequence[int] | None = None,
    log_every: int = 0,
    block: int = 512,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(S)GD on ``mean((X (p ⊙ q) − y)²)`` for all chains at once, on the simulator.

    Args:
        X, y: ``(S, N, n)``, ``(S, N)``.
        p0, q0: ``(S, n)`` initial factors.
        lr, steps: step size and number of steps.
        batch: rows per step, drawn without replacement (``0`` or ``>= N``: full batch); the
            loss is the batch mean.
        label_noise: std of fresh label noise added to ``y`` every step (``0``: none).
        seed, chain_ids: the simulator's per-chain noise streams
            (``derive_seed(seed, "dynamics-chain", chain_ids[i])``; default ``0..S-1``).
        log_every: record the full-batch, noise-free training loss after every
            ``log_every`` steps (0: never).
        block: steps per random draw.

    Returns:
        ``(p, q, loss_log (n_logs, S))``.
    """
    S, N, n = X.shape

    def grad(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
        Xb, pp, qq = b["X"], p["p"], p["q"]
        r = torch.bmm(Xb, (pp * qq)[..., None])[..., 0] - b["y"]
        g = torch.bmm(r[:, None, :], Xb)[:, 0] * (2.0 / Xb.shape[1])
        return (lambda: (r * r).mean(1)), torch.cat((g * qq, g * pp), 1)

    obs = {"train_loss": lambda p: _full_loss(X, y, p["p"] * p["q"])} if log_every else {}
    sim = _linear_sim(X, y, {"p": (n,), "q": (n,)}, grad, [dyn.gradient_step(lr)], batch, label_noise,
                      log_every, block, obs)
    res = sim.run(torch.cat((p0, q0), 1), steps, seed=seed, chain_ids=chain_ids)
    raise_if_diverged(f"designed model (lr {lr:g})", res, "p, q")
    prm = res.params()
    return prm["p"].contiguous(), prm["q"].contiguous(), _log(res, log_every, S)
