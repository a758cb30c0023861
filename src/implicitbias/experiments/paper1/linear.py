"""Seed-batched trainers for the linear inverse problems of v2 Figs. 5-6 and the ablation.

Problem (per chain ``s``): features ``X (N, n)``, targets ``y (N,)``, loss
``L(c) = (1/N) Σ_i (X c − y)_i²``. Three models:

* vanilla ``c = w`` — plain gradient descent is an affine iteration
  ``w ← (I − α H) w + α g`` with ``H = (2/N) XᵀX``, ``g = (2/N) Xᵀy``; after ``k`` steps, in
  the eigenbasis ``H = U diag(λ) Uᵀ``: ``w_k = w* + U diag((1 − αλ)^k) Uᵀ (w_0 − w*)`` for
  any ``w*`` with ``H w* = g`` on range(H). :func:`gd_closed_form` evaluates this exactly
  (float64) in O(n³), independent of ``k``; :func:`train_vanilla` runs the loop (optionally
  with an ℓ1 subgradient ``λ sign(w)``).
* Hadamard ``c = p ⊙ q``: ``∂L/∂p = ∇L(c) ⊙ q``, ``∂L/∂q = ∇L(c) ⊙ p``, with optional
  minibatch noise (a uniformly random subset of ``B`` rows per step, loss rescaled to the
  batch mean) and label noise (fresh ``y + σ ξ`` every step, ``ξ ~ N(0, I)``).

Shapes: ``X (S, N, n)``, ``y (S, N)``, parameters ``(S, n)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from implicitbias.experiments.paper1 import common as C

__all__ = ["gd_closed_form", "train_vanilla", "train_hadamard", "NoiseSpec"]


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


def train_vanilla(
    X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, lr: float, steps: int, l1: float = 0.0,
    log_every: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-batch (sub)gradient descent on ``mean((Xw − y)²) + l1 ‖w‖₁``.

    Returns:
        ``(w (S, n), train_loss_log (n_logs, S))`` — the log holds the data loss only.
    """
    w = w0.clone()
    Xt = X.transpose(1, 2).contiguous()
    k = 2.0 / X.shape[1]
    logs = []
    for step in range(1, steps + 1):
        r = torch.bmm(X, w[..., None])[..., 0] - y
        gw = torch.bmm(Xt, r[..., None])[..., 0]
        w.sub_(gw, alpha=lr * k)
        if l1:
            w.sub_(torch.sign(w), alpha=lr * l1)
        if log_every and step % log_every == 0:
            logs.append((r * r).mean(1))
    return w, torch.stack(logs) if logs else torch.zeros(0, w.shape[0])


@dataclass(frozen=True)
class NoiseSpec:
    """Gradient-noise model for :func:`train_hadamard`.

    Attributes:
        batch: rows per step (``0`` or ``>= N``: full batch).
        label_noise: std of fresh label noise added every step (``0``: none).
    """

    batch: int = 0
    label_noise: float = 0.0


def train_hadamard(
    X: torch.Tensor,
    y: torch.Tensor,
    p0: torch.Tensor,
    q0: torch.Tensor,
    lr: float,
    steps: int,
    noise: NoiseSpec = NoiseSpec(),
    seeds: Sequence[int] = (),
    key: str = "hadamard",
    log_every: int = 0,
    block: int = 512,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(S)GD on ``mean((X (p ⊙ q) − y)²)`` for all chains at once.

    Args:
        X, y: ``(S, N, n)``, ``(S, N)``.
        p0, q0: ``(S, n)`` initial factors.
        lr, steps: step size and number of steps.
        noise: minibatch / label-noise settings (full batch, noiseless by default).
        seeds, key: per-chain RNG streams for the noise (needed if ``noise`` is not trivial).
        log_every: log the full-batch training loss every this many steps (0: never).
        block: steps per random draw.

    Returns:
        ``(p, q, loss_log (n_logs, S))``.
    """
    S, N, _ = X.shape
    p, q = p0.clone(), q0.clone()
    Xt = X.transpose(1, 2).contiguous()
    k = 2.0 / N
    use_batch = 0 < noise.batch < N
    use_ln = noise.label_noise > 0
    dev = X.device
    gens = C.chain_generators(seeds, key, dev) if (use_batch or use_ln) else []
    if (use_batch or use_ln) and len(gens) != S:
        raise ValueError("noisy training needs one seed per chain")
    ln = C.BlockNoise(gens, (N,), block=block, device=dev) if use_ln else None
    bi, masks = block, None
    logs = []
    for step in range(1, steps + 1):
        c = p * q
        r = torch.bmm(X, c[..., None])[..., 0] - y
        if step % max(log_every, 1) == 0 and log_every:
            logs.append((r * r).mean(1))
        if ln is not None:
            r = r - noise.label_noise * ln.next()
        if use_batch:
            if bi >= block:
                u = torch.stack([torch.rand(block, N, generator=g, device=dev) for g in gens], 1)
                # exactly `batch` rows per step: the `batch` smallest uniforms
                kth = u.kthvalue(noise.batch, dim=-1, keepdim=True).values
                masks = (u <= kth).to(X.dtype) * (N / noise.batch)
                bi = 0
            assert masks is not None
            r = r * masks[bi]
            bi += 1
        g = torch.bmm(Xt, r[..., None])[..., 0]
        gp = g * q
        q.addcmul_(g, p, value=-lr * k)
        p.add_(gp, alpha=-lr * k)
    return p, q, torch.stack(logs) if logs else torch.zeros(0, S)
