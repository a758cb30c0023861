"""Experiment 1 (v2 Fig. 2): per-unit norm balancing of a shallow bias-free ReLU network.

Student ``f(x) = V relu(W x)`` with ``W (h, d)``, ``V (o, h)``, trained by online minibatch
SGD on a frozen teacher of the same architecture. The start is moved along the rescaling
orbit ``(w_j, v_j) -> (s_j w_j, v_j / s_j)``, ``s = exp(linspace(-1.2, 1.2, h))``, which
leaves the predictor unchanged. The symmetry theory predicts the balanced gauge
``‖v_j‖ = ‖w_j‖``; we log the per-unit ratio ``‖V[:, j]‖ / ‖W[j, :]‖`` for all chains.

Gradients (per chain, batch ``x (B, d)``, ``y (B, o)``, loss ``mean((f − y)²)``)::

    P = x Wᵀ, H = relu(P), R = H Vᵀ − y, G = 2R / (B·o)
    ∂L/∂V = Gᵀ H,   ∂L/∂W = ((G V) ⊙ 1[P > 0])ᵀ x

Training runs on :class:`implicitbias.dynamics.Simulator` (:func:`simulator`) with this
closed-form gradient plugged into its ``grad=`` hook; per-chain data streams come from
``(DATA_SEED, chain index)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from implicitbias import dynamics as dyn
from implicitbias.config import MAX_STEPS, bounded
from implicitbias.data.synthetic import relu_teacher
from implicitbias.device import resolve_device
from implicitbias.errors import UserInputError
from implicitbias.experiments.base import (
    ExperimentResult,
    Metric,
    Progress,
    no_progress,
    raise_if_diverged,
)
from implicitbias.experiments.paper1 import common as C
from implicitbias.runs import RunDir
from implicitbias.seeding import derive_seed

ID = "relu_balance"
TITLE = "Shallow ReLU network: per-unit norm ratios |v_j|/‖w_j‖ → 1 under SGD (v2 Fig. 2)"
#: base seed of the simulator's per-chain data streams (chain c: derive_seed(DATA_SEED, "dynamics-chain", c)).
DATA_SEED = derive_seed(0, f"{ID}/data")

__all__ = ["ID", "TITLE", "Config", "PRESETS", "METRICS", "run", "figures", "relu_grads", "simulator", "train"]

METRICS = (
    Metric("final_ratio_min", "1", "smallest per-unit ratio |v_j|/‖w_j‖ at the last step"),
    Metric("final_ratio_max", "1", "largest per-unit ratio |v_j|/‖w_j‖ at the last step"),
    Metric("final_ratio_mean", "1", "mean per-unit ratio at the last step"),
    Metric("final_loss", "1", "minibatch MSE, mean of the last 100 logs"),
    Metric("frac_units_within_10pct", "1", "fraction of units with ratio within 10% of 1"),
    Metric("frac_active_units_within_10pct", "1", "same, units with path norm ≥ 0.5 × median"),
)


@dataclass(frozen=True)
class Config:
    """Settings (paper values in ``PRESETS["paper"]``)."""

    seed: int = bounded(0, ge=0)
    seeds: int = bounded(8, ge=1, le=100_000)
    steps: int = bounded(40_000, ge=1, le=MAX_STEPS)
    lr: float = bounded(5e-5, gt=0)
    batch: int = bounded(8, ge=1, le=1_000_000)
    d_in: int = bounded(3, ge=1, le=100_000)
    hidden: int = bounded(16, ge=1, le=100_000)
    d_out: int = bounded(1, ge=1, le=100_000)
    teacher_std: float = bounded(1.5, ge=0)
    student_std: float = bounded(0.05, ge=0)
    label_noise: float = bounded(0.1, ge=0)
    log_scale: float = bounded(1.2, ge=0)
    log_every: int = bounded(10, ge=1)
    discard_logs: int = bounded(1, ge=0)
    device: str = "cpu"
    threads: int = bounded(1, ge=0, le=4096)

    def validate(self) -> None:
        """Cross-field checks (called when a config is read from ``--set`` or JSON)."""
        if self.log_every > self.steps:
            raise UserInputError(f'log_every ({self.log_every}) must be <= steps ({self.steps})')


PRESETS: dict[str, Config] = {
    "paper": Config(),
    "quick": Config(steps=40_000, log_every=50),
}


def relu_grads(
    W: torch.Tensor, V: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seed-batched loss and gradients of ``mean((V relu(W x) − y)²)``.

    Args:
        W: ``(S, h, d)``; V: ``(S, o, h)``; x: ``(S, B, d)``; y: ``(S, B, o)``.

    Returns:
        ``(loss (S,), dW (S, h, d), dV (S, o, h))``.
    """
    loss, g = _relu_grads_lazy(W, V, x, y)
    dW, dV = g
    return loss(), dW, dV


def _relu_grads_lazy(
    W: torch.Tensor, V: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[Callable[[], torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """:func:`relu_grads` with the loss as a callable (only evaluated at recorded steps)."""
    P = torch.bmm(x, W.transpose(1, 2))
    H = torch.relu(P)
    R = torch.bmm(H, V.transpose(1, 2)) - y
    G = R * (2.0 / (R.shape[1] * R.shape[2]))
    dV = torch.bmm(G.transpose(1, 2), H)
    dP = torch.bmm(G, V) * (P > 0)
    dW = torch.bmm(dP.transpose(1, 2), x)
    return (lambda: (R * R).mean(dim=(1, 2))), (dW, dV)


def _ratios(W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Per-unit ``‖V[:, j]‖ / ‖W[j, :]‖``, shape ``(S, h)`` (eps 1e-12 as in the code)."""
    return V.norm(dim=1) / (W.norm(dim=2) + 1e-12)


def simulator(cfg: Config, teacher: tuple[torch.Tensor, torch.Tensor]) -> dyn.Simulator:
    """The :class:`~implicitbias.dynamics.Simulator` of this experiment for ``S`` chains.

    Each step every chain draws ``B`` fresh inputs ``x ~ N(0, I_d)`` and its own teacher's
    targets plus label noise (:class:`~implicitbias.dynamics.OnlineTeacher`), and takes one
    SGD step with the closed-form gradient :func:`relu_grads`. Records the per-unit ratios
    ``(S, h)`` every ``log_every`` steps.

    Args:
        cfg: settings.
        teacher: ``(Wt (S, h, d), Vt (S, o, h))``; chain ``i`` of the run has teacher ``i``.
    """
    dev = resolve_device(cfg.device)
    h, d, o, B = cfg.hidden, cfg.d_in, cfg.d_out, cfg.batch
    Wt, Vt = (t.to(dev) for t in teacher)
    S = Wt.shape[0]
    WtT, VtT = Wt.transpose(1, 2), Vt.transpose(1, 2)

    def teacher_fn(x: torch.Tensor) -> torch.Tensor:  # (S·B, d) -> (S·B, o)
        return torch.bmm(torch.relu(torch.bmm(x.view(S, B, d), WtT)), VtT).reshape(S * B, o)

    def grad(p: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
        loss, (dW, dV) = _relu_grads_lazy(p["W"], p["V"], batch["x"], batch["y"])
        return loss, torch.cat((dW.flatten(1), dV.flatten(1)), 1)

    return dyn.Simulator(
        None, {"W": (h, d), "V": (o, h)}, dyn.chain(dyn.gradient_step(cfg.lr)),
        data=dyn.OnlineTeacher(teacher_fn, d, o, B, noise_std=cfg.label_noise),
        observables={"ratios": lambda p: _ratios(p["W"], p["V"])}, record_every=cfg.log_every,
        dtype=torch.float32, device=dev, batched_observables=True, grad=grad,
    )


@C.threaded
def train(cfg: Config, progress: Progress = no_progress) -> dict[str, torch.Tensor]:
    """Run all chains on the simulator; return logged arrays (steps, ratios, losses, final weights).

    Chain ``i`` of the run is global chain ``cfg.seed + i``: its teacher and start come from
    ``derive_seed(cfg.seed + i, "relu_balance/init")``, its data stream from the simulator's
    stream ``(DATA_SEED, cfg.seed + i)``, whatever ``cfg.seeds`` is.
    """
    seeds = C.chain_seeds(cfg.seed, cfg.seeds)
    h, d, o = cfg.hidden, cfg.d_in, cfg.d_out
    Wt, Vt, W0, V0 = [], [], [], []
    for g in C.chain_generators(seeds, f"{ID}/init", torch.device("cpu")):
        a, b = relu_teacher(g, d, h, o, cfg.teacher_std)
        Wt.append(a)
        Vt.append(b)
        W0.append(torch.randn(h, d, generator=g) * cfg.student_std)
        V0.append(torch.randn(o, h, generator=g) * cfg.student_std)
    s = C.unbalance_scales(h, cfg.log_scale).float()
    theta0 = {"W": torch.stack(W0) * s[None, :, None], "V": torch.stack(V0) / s[None, None, :]}
    teacher = (torch.stack(Wt), torch.stack(Vt))
    res = simulator(cfg, teacher).run(theta0, cfg.steps, seed=DATA_SEED, chain_ids=seeds, name=ID, progress=progress)
    raise_if_diverged(ID, res, "W, V")
    p = res.params()
    return {
        "steps": res.steps, "ratios": res.records["ratios"].cpu(), "loss": res.records["loss"].cpu(),
        "W": p["W"].cpu().contiguous(), "V": p["V"].cpu().contiguous(),
        "teacher_W": teacher[0], "teacher_V": teacher[1],
    }


def run(cfg: Config, run_dir: RunDir, progress: Progress | None = None) -> ExperimentResult:
    """Train, save arrays and figure, and compare with the paper (§8.1 / §8.7)."""
    sw = C.Stopwatch()
    arrays = train(cfg, progress or no_progress)
    run_dir.save_arrays(arrays)
    r = arrays["ratios"].double().numpy()  # (n_logs, S, h)
    fin, init = r[-1], r[0]
    loss = arrays["loss"].double().numpy()
    last = loss[max(1, loss.shape[0] - 100):]
    fin_loss = np.nanmean(last, axis=0)
    within = lambda v: abs(v - 1.0) <= 0.1  # noqa: E731
    claims = [
        C.claim(ID, f"min per-unit ratio at {cfg.steps} steps", "0.939", fin.min(1), within),
        C.claim(ID, f"max per-unit ratio at {cfg.steps} steps", "1.0045", fin.max(1), within),
        C.claim(ID, f"mean per-unit ratio at {cfg.steps} steps", "0.989", fin.mean(1), within),
        C.claim(
            ID, "initial ratio range (min)", "0.0018", init.min(1), lambda v: 1e-4 < v < 0.02,
            note="depends on the random student init; verdict: same order of magnitude",
        ),
        C.claim(
            ID, "initial ratio range (max)", "3.60", init.max(1), lambda v: 1.8 < v < 7.2,
            note="depends on the random student init; verdict: within a factor 2",
        ),
        C.claim(
            ID, "final minibatch loss (mean of last 100 logs)", "≈ 1.04", fin_loss,
            lambda v: 0.5 < v < 2.1,
            note="depends on the random teacher (std 1.5); verdict: within a factor 2",
        ),
    ]
    # Units that stay small keep their initial imbalance (gradient flow conserves
    # ‖w_j‖² − ‖v_j‖²); "active" units have path norm ≥ 0.5 × the chain's median.
    pn = (arrays["W"].norm(dim=2) * arrays["V"].norm(dim=1)).double().numpy()  # (S, h)
    active = pn >= 0.5 * np.median(pn, axis=1, keepdims=True)
    ok_units = np.abs(fin - 1.0) <= 0.1
    frac_all = ok_units.mean(1)
    frac_active = np.array([ok_units[s][active[s]].mean() for s in range(fin.shape[0])])
    claims += [
        C.claim(
            ID, "fraction of units with ratio within 10% of 1", "1.0 (16/16)", frac_all,
            lambda v: v >= 0.999, note="per-seed fraction; the paper ran one seed",
        ),
        C.claim(
            ID, "same, active units only (path norm ≥ 0.5 × median)", "1.0 (16/16)",
            frac_active, lambda v: v >= 0.999,
            note="not in the paper: units that stay small keep their init imbalance",
        ),
    ]
    metrics = {
        "final_ratio_min": fin.min(1).tolist(),
        "final_ratio_max": fin.max(1).tolist(),
        "final_ratio_mean": fin.mean(1).tolist(),
        "final_loss": fin_loss.tolist(),
        "frac_units_within_10pct": frac_all.tolist(),
        "frac_active_units_within_10pct": frac_active.tolist(),
        "path_norms": pn.tolist(),
        "chains": cfg.seeds,
    }
    return ExperimentResult(ID, claims, metrics, [], wall_time_s=sw.elapsed)


def figures(result: ExperimentResult, run_dir: RunDir) -> list[str]:
    """v2 Fig. 2: per-unit ratios over training (seed 0 + band), from ``arrays.safetensors``."""
    from implicitbias.viz import curves

    a = run_dir.load_arrays()
    k = int(run_dir.config_record()["config"].get("discard_logs", 1))
    p = curves.ratio_curves(a["steps"].numpy()[k:], a["ratios"].double().numpy()[k:],
                            run_dir.figure_path("fig2_relu_ratios"), ylabel=r"$|v_j| / \|w_j\|$",
                            title="Shallow ReLU: per-unit balance")
    return [str(p.relative_to(run_dir.path))]
