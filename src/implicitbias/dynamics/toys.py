r"""Toy problems for validating the dynamics against theory.

* Diagonal network of depth L on ``d`` independent coordinates: parameters ``u1 … uL``
  (each ``(d,)``), predictor ``w = u1 ⊙ ⋯ ⊙ uL``, orbit fields (per coordinate i and
  k = 1..L−1) ``ξ_{i,k} = u_k[i] e_{u_k[i]} − u_{k+1}[i] e_{u_{k+1}[i]}``.
  Four dynamics on the loss ``Σ_i ½ (w_i − a)²``: isotropic Langevin (+ weight decay),
  projected-noise Langevin, label-noise SGD and online minibatch SGD (``y = a x + σ ε``).
* Factorization ``W = U Vᵀ`` (``U: m×r``, ``V: n×r``) with label noise on W.
* Radial SO(d) toy for the Menon–Stromme–Vacher check (see ``validate_projected``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from implicitbias.dynamics import rules as R
from implicitbias.dynamics.data import FullBatch, OnlineTeacher
from implicitbias.dynamics.simulator import Simulator

__all__ = ["diag_shapes", "diag_predictor", "diag_fields", "diag_project", "diag_balanced_init", "diag_imbalance", "diag_simulator", "DYNAMICS",
           "factorization_simulator"]

DYNAMICS = ("isotropic", "projected", "label_noise", "minibatch")


def diag_shapes(d: int, depth: int) -> dict[str, tuple[int, ...]]:
    return {f"u{j + 1}": (d,) for j in range(depth)}


def diag_predictor(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """``w = Π_ℓ u_ℓ`` (works per chain or batched)."""
    keys = sorted(p, key=lambda k: int(k[1:]))
    w = p[keys[0]]
    for k in keys[1:]:
        w = w * p[k]
    return w


def diag_fields(d: int, depth: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batched orbit fields ``(C, L·d) -> (C, L·d, (L−1)·d)``."""
    def fields(theta: torch.Tensor) -> torch.Tensor:
        C = theta.shape[0]
        u = theta.view(C, depth, d)
        F = theta.new_zeros(C, depth, d, depth - 1, d)
        idx = torch.arange(d)
        for k in range(depth - 1):
            F[:, k, idx, k, idx] = u[:, k]
            F[:, k + 1, idx, k, idx] = -u[:, k + 1]
        return F.view(C, depth * d, (depth - 1) * d)

    return fields


def diag_project(d: int, depth: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Batched closed-form orbit projector ``(θ, v) -> P_⊥ v`` for the diagonal toy.

    Per coordinate i the orbit of ``w_i = Π_ℓ u_ℓ[i]`` has codimension one inside its block, so
    ``P_⊥ v = Σ_i n_i n_iᵀ v`` with ``n_i = ∇_θ w_i / ‖∇_θ w_i‖``; ``∇_{u_ℓ[i]} w_i = Π_{m≠ℓ} u_m[i]``.
    (Equal to :func:`~implicitbias.dynamics.rules.project_out_fields` with :func:`diag_fields`
    away from singular points; tested.)
    """
    def project(theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        C = theta.shape[0]
        u = theta.view(C, depth, d)
        g = torch.stack([torch.prod(torch.cat([u[:, :j], u[:, j + 1:]], dim=1), dim=1) for j in range(depth)], dim=1)
        n2 = (g * g).sum(1, keepdim=True)
        coef = (g * v.view(C, depth, d)).sum(1, keepdim=True) / torch.where(n2 > 0, n2, torch.ones_like(n2))
        return (g * coef).reshape(C, depth * d)

    return project


def diag_imbalance(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Moment maps ``u_k² − u_{k+1}²``: ``(..., L−1, d)`` (batched over leading dims)."""
    keys = sorted(p, key=lambda k: int(k[1:]))
    return torch.stack([p[keys[k]] ** 2 - p[keys[k + 1]] ** 2 for k in range(len(keys) - 1)], dim=-2)


def diag_simulator(dynamics: str, d: int, depth: int, *, a: float, lr: float, temperature: float = 0.0,
                   weight_decay: float = 0.0, label_sigma: float = 0.0, batch: int = 1,
                   record_every: int = 10, extra_observables: dict | None = None) -> Simulator:
    """A simulator of one of :data:`DYNAMICS` for the depth-L diagonal toy.

    * ``isotropic``: gradient + weight decay λ + Langevin at T;
    * ``projected``: gradient + projected Langevin at T (weight decay λ if > 0);
    * ``label_noise``: full-batch targets ``a`` with label noise σ;
    * ``minibatch``: online ``x ~ N(0, I_d)`` (B × d), ``y = a x + σ ε``, loss
      ``Σ_i mean_b ½ (w_i x_bi − y_bi)²``.
    """
    shapes = diag_shapes(d, depth)
    obs = {"w": diag_predictor, "chi": diag_imbalance, **(extra_observables or {})}  # batched
    target = torch.full((d,), float(a), dtype=torch.float64)

    # batched over chains: p[...] (C, d), batch["y"] (C, d) or x, y (C, B, d); returns (C,)
    def loss_full(p, batch):
        return 0.5 * ((diag_predictor(p) - batch["y"]) ** 2).sum(-1)

    def loss_online(p, batch):
        return 0.5 * ((batch["x"] * diag_predictor(p)[:, None, :] - batch["y"]) ** 2).mean(1).sum(-1)

    kw = {"record_every": record_every, "batched_loss": True, "batched_observables": True}

    if dynamics == "isotropic":
        rules = [R.gradient_step(lr)] + ([R.weight_decay(lr, weight_decay)] if weight_decay else []) + [R.langevin(lr, temperature)]
        return Simulator(loss_full, shapes, R.chain(*rules), FullBatch({"y": target}), obs, **kw)
    if dynamics == "projected":
        rules = [R.gradient_step(lr)] + ([R.weight_decay(lr, weight_decay)] if weight_decay else [])
        rules.append(R.projected_langevin(lr, temperature, project=diag_project(d, depth)))
        return Simulator(loss_full, shapes, R.chain(*rules), FullBatch({"y": target}), obs, **kw)
    if dynamics == "label_noise":
        return Simulator(loss_full, shapes, R.chain(R.label_noise(label_sigma), R.gradient_step(lr)),
                         FullBatch({"y": target}), obs, **kw)
    if dynamics == "minibatch":
        def teacher(x):
            return a * x

        data = OnlineTeacher(teacher, d, d, batch, noise_std=label_sigma)
        return Simulator(loss_online, shapes, R.chain(R.gradient_step(lr)), data, obs, **kw)
    raise ValueError(f"unknown dynamics {dynamics!r} (known: {DYNAMICS})")


def diag_balanced_init(chains: int, d: int, depth: int, w0: float) -> torch.Tensor:
    """All chains on the balanced slice at ``w = w0 > 0``: ``(C, L·d)``."""
    return torch.full((chains, depth * d), float(w0) ** (1.0 / depth), dtype=torch.float64)


def factorization_simulator(dynamics: str, m: int, n: int, r: int, *, A: torch.Tensor, lr: float,
                            temperature: float = 0.0, label_sigma: float = 0.0, record_every: int = 10) -> Simulator:
    """``W = U Vᵀ`` with loss ``½‖W − A‖²_F``: ``label_noise`` (σ on every entry) or ``isotropic``."""
    shapes = {"U": (m, r), "V": (n, r)}

    def loss(p, batch):
        return 0.5 * ((p["U"] @ p["V"].T - batch["y"]) ** 2).sum()

    def imbalance(p):
        return p["U"].T @ p["U"] - p["V"].T @ p["V"]

    obs = {"imbalance": imbalance, "W": lambda p: p["U"] @ p["V"].T}
    data = FullBatch({"y": A.to(torch.float64)})
    if dynamics == "label_noise":
        rule = R.chain(R.label_noise(label_sigma), R.gradient_step(lr))
    elif dynamics == "isotropic":
        rule = R.chain(R.gradient_step(lr), R.langevin(lr, temperature))
    else:
        raise ValueError(f"unknown dynamics {dynamics!r}")
    return Simulator(loss, shapes, rule, data, obs, record_every=record_every)
