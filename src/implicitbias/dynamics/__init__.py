r"""Stochastic dynamics of many independent chains at once.

Quick start (the v2 Fig. 2 ReLU teacher–student with 16 chains)::

    import torch
    from implicitbias import dynamics as dyn

    def loss(p, batch):                      # ONE chain: p["W"] (16, 3), p["V"] (1, 16)
        out = torch.relu(batch["x"] @ p["W"].T) @ p["V"].T          # (B, 1)
        return ((out - batch["y"]) ** 2).mean()

    teacher = lambda x: torch.relu(x @ Wt.T) @ Vt.T                 # (..., B, 3) -> (..., B, 1)
    sim = dyn.Simulator(
        loss, {"W": (16, 3), "V": (1, 16)},
        rules=dyn.chain(dyn.gradient_step(5e-5)),                   # SGD
        data=dyn.OnlineTeacher(teacher, input_dim=3, output_dim=1, batch_size=8, noise_std=0.1),
        observables={"ratio": lambda p: p["V"][0].abs() / p["W"].norm(dim=1)},
        record_every=10, dtype=torch.float32,
    )
    res = sim.run({"W": W0, "V": V0}, steps=40_000, seed=0)          # W0: (C, 16, 3), V0: (C, 1, 16)
    res.records["ratio"]   # (4001, C, 16): every 10 steps incl. step 0
    res.records["loss"]    # (4001, C) minibatch loss of the recorded step (NaN at step 0)
    res.theta, res.params(), res.frozen, res.frozen_at, res.diverged   # {chain id: step}

Pieces:

* :class:`Simulator` ``(loss, shapes, rules, data=None, observables=None, *, record_every=1,
  block=256, dtype=torch.float64, device="cpu", batched_loss=False, batched_observables=False,
  grad=None)``
  and :meth:`Simulator.run` ``(theta0, steps, *, seed=0, chain_ids=None, run_dir=None,
  name="dynamics", checkpoint_every=0, stop_after=None, progress=None) -> SimResult``.
  ``theta0`` is ``(C, D)`` or a dict of ``(C, *shape)`` tensors. The per-chain ``loss`` is
  vmapped once and differentiated with one autograd call on the sum over chains (chains are
  independent, so this yields every chain's own gradient). ``shapes`` may be an
  ``ib.Parametrization`` (its ``.shapes`` are used; ``loss`` can call ``p.fn(params)``).
* **Speed.** For hot loops pass ``batched_loss=True`` and a loss on ``(C, ...)`` tensors
  returning ``(C,)`` (e.g. ``torch.bmm`` / ``einsum`` over the chain axis): on the Fig. 2
  benchmark (``benchmarks/chains.py``, 2 shared CPU cores, 1 thread) 64 chains then cost
  ≈ 1.3–2.4× one plain ``torch.optim.SGD`` loop, against ≈ 3–4.7× with the vmapped per-chain
  loss (vmap's backward dominates). Fastest: a hand-written batched gradient
  ``grad(params, batch) -> (losses (C,) or a callable giving them, g (C, D) or name -> (C, *shape))``
  (``loss`` may then be ``None``): no autograd graph, the loss only evaluated at recorded
  steps; every paper experiment (``relu_balance``, ``attention_balance``,
  ``matrix_completion``, the linear models of ``fourier_sparsity`` / ``tv_recovery`` /
  ``noise_init_ablation``) runs this way, its gradient tested against autograd. Keep
  ``record_every`` ≥ 10 and the observables cheap.
* Teacher functions for :class:`OnlineTeacher` receive a 2-D ``(C·B, d)`` matrix in the
  simulator's dtype (default float64; pass ``dtype=torch.float32`` to match float32 weights).
* Rules (compose with :func:`chain`): :func:`gradient_step` (lr), :func:`weight_decay` (lr, λ),
  :func:`langevin` (lr, T) — ``sqrt(2 T lr) N(0, I)``, :func:`projected_langevin` (lr, T,
  fields= or project=) — same noise with the orbit directions removed,
  :func:`label_noise` (σ, key="y") — fresh target noise, :func:`drift` (lr, b) — extra
  drift ``θ += lr b(θ)``.
* Data: :class:`FullBatch` (fixed batch), :class:`OnlineTeacher` (fresh Gaussian inputs +
  teacher targets), :class:`Subsample` (B rows of a dataset, with/without replacement);
  ``per_chain=True`` gives each chain its own fixed data (``(C, ...)`` tensors).
* Randomness: chain ``c`` uses its own generator seeded by ``derive_seed(seed,
  "dynamics-chain", c)``; noise is drawn in blocks of ``block`` steps per chain. A chain's
  trajectory is bit-identical whether it runs alone (``chain_ids=[c]``) or among others.
* Non-finite chains are frozen at their last finite parameters (``res.frozen``,
  ``res.frozen_at``; ``res.diverged`` maps each frozen chain id to its step) while the others
  continue.
* ``run_dir`` (a :class:`~implicitbias.runs.RunDir`): results go to ``<name>.safetensors``;
  with ``checkpoint_every`` a checkpoint (parameters, records, generator states) is written
  and a later call with the same arguments resumes it exactly.

**Temperature.** SGD with step η, batch B and per-sample gradient covariance σ² I is the
Euler–Maruyama discretisation (time step η) of ``dθ = −∇L dt + sqrt(2T) dW`` with
``T = η σ² / (2B)`` (:func:`sgd_temperature`); see ``docs/theory.md``.
"""

from implicitbias.dynamics.data import DataSource, FullBatch, OnlineTeacher, Subsample
from implicitbias.dynamics.noise import ChainNoise, NoiseSpec
from implicitbias.dynamics.rules import (
    Chain,
    Rule,
    chain,
    drift,
    gradient_step,
    label_noise,
    langevin,
    project_out_fields,
    projected_langevin,
    sgd_temperature,
    weight_decay,
)
from implicitbias.dynamics.simulator import ParamLayout, SimResult, Simulator

__all__ = [
    "Simulator",
    "SimResult",
    "ParamLayout",
    "Rule",
    "Chain",
    "chain",
    "gradient_step",
    "weight_decay",
    "langevin",
    "projected_langevin",
    "label_noise",
    "drift",
    "project_out_fields",
    "sgd_temperature",
    "DataSource",
    "FullBatch",
    "OnlineTeacher",
    "Subsample",
    "NoiseSpec",
    "ChainNoise",
]
