"""Noise vs initialisation ablation for the two inverse-design experiments (v2 Figs. 5-6).

The paper trains the designed models full batch from a small init, so their sparsity may
come from the small-init "rich regime" of diagonal networks rather than from the
symmetry-induced (noise-driven) bias. We train the designed model of
:mod:`fourier_sparsity` (``w = p ⊙ q``) and of :mod:`tv_recovery` (``w = cumsum(a ⊙ b)``) on
the grid {full batch, minibatch SGD, label-noise SGD} × {small init, balanced large init}:

* small init: the paper's (``N(0, 0.01²)`` for Fourier, ``N(0, 0.3²)`` for TV);
* balanced large init: ``p, q ~ N(0, large_std²)`` moved along the rescaling orbit to
  ``|p_i| = |q_i| = sqrt|p_i q_i|`` (same predictor, moment map ``p² − q² = 0``);
* minibatch SGD: a uniformly random subset of ``batch`` rows per step;
* label-noise SGD: full batch with fresh ``y + σ ξ`` each step.

A cell "gives the sparse solution" when the median over chains meets the criterion:
Fourier: support ``≤ 2 k_true`` and test MSE ``≤ sparse_test_mse``; TV: TV ``≤ 5 ×`` the true
TV (vanilla reaches ≈ 22 ×) and reconstruction MSE ``≤ sparse_recon_mse``.
``tv_large_lr`` (if > 0) replaces ``tv_lr`` for the large init, where larger steps diverge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from implicitbias.config import MAX_STEPS, bounded
from implicitbias.experiments.base import Claim, ExperimentResult, Metric, Progress, no_progress
from implicitbias.experiments.paper1 import common as C
from implicitbias.experiments.paper1 import fourier_sparsity as F
from implicitbias.experiments.paper1 import tv_recovery as TV
from implicitbias.experiments.paper1.linear import train_hadamard
from implicitbias.runs import RunDir
from implicitbias.seeding import derive_seed

ID = "noise_init_ablation"
TITLE = "Noise vs initialisation: which (optimizer × init) cells give the sparse solution"

__all__ = ["ID", "TITLE", "Config", "PRESETS", "run", "balanced_init", "grid"]

METHODS = ("full-batch", "minibatch SGD", "label-noise SGD")
INITS = ("small init", "balanced large init")


@dataclass(frozen=True)
class Config:
    """Settings. ``*_steps``/``*_lr`` default to the paper's designed-model settings."""

    seed: int = bounded(0, ge=0)
    seeds: int = bounded(8, ge=1, le=100_000)
    large_std: float = bounded(1.0, ge=0)
    fourier_steps: int = bounded(50_000, ge=1, le=MAX_STEPS)
    fourier_lr: float = bounded(1e-3, gt=0)
    fourier_batch: int = bounded(8, ge=1, le=1_000_000)
    fourier_label_noise: float = bounded(0.5, ge=0)
    tv_steps: int = bounded(500_000, ge=1, le=MAX_STEPS)
    tv_lr: float = bounded(1e-3, gt=0)
    tv_large_lr: float = bounded(0.0, ge=0)
    tv_batch: int = bounded(15, ge=1, le=1_000_000)
    tv_label_noise: float = bounded(0.5, ge=0)
    sparse_test_mse: float = bounded(0.1, gt=0)
    sparse_recon_mse: float = bounded(0.2, gt=0)
    device: str = "cpu"
    threads: int = bounded(1, ge=0, le=4096)


PRESETS: dict[str, Config] = {
    "paper": Config(),
    # TV at lr 1e-2 diverges from the large init (curvature ∝ a² + b²): 1e-3 there.
    "quick": Config(fourier_steps=20_000, fourier_lr=2.5e-3, tv_steps=25_000, tv_lr=1e-2, tv_large_lr=1e-3),
}


def balanced_init(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move ``(p, q)`` along its orbit to the balanced point: same ``p ⊙ q``, ``|p| = |q|``."""
    m = (p * q).abs().sqrt()
    return torch.sign(p) * m, torch.sign(q) * m


def _inits(seeds: list[int], key: str, n: int, small: float, large: float, dev) -> dict[str, tuple]:
    ps, qs, Ps, Qs = [], [], [], []
    for g in C.chain_generators(seeds, key, torch.device("cpu")):
        ps.append(torch.randn(n, generator=g) * small)
        qs.append(torch.randn(n, generator=g) * small)
        Ps.append(torch.randn(n, generator=g) * large)
        Qs.append(torch.randn(n, generator=g) * large)
    P, Q = balanced_init(torch.stack(Ps), torch.stack(Qs))
    return {INITS[0]: (torch.stack(ps).to(dev), torch.stack(qs).to(dev)), INITS[1]: (P.to(dev), Q.to(dev))}


def _noise(method: str, batch: int, sigma: float) -> dict[str, float]:
    """``train_hadamard`` keywords of a method: ``batch`` rows per step / label-noise std."""
    return {"full-batch": {}, "minibatch SGD": {"batch": batch},
            "label-noise SGD": {"label_noise": sigma}}[method]


@C.threaded
def grid(cfg: Config, progress: Progress = no_progress) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Run both problems on the full grid; ``out[problem][f"{method} | {init}"][metric]``."""
    seeds = C.chain_seeds(cfg.seed, cfg.seeds)
    fcfg = replace(F.PRESETS["paper"], seeds=cfg.seeds, seed=cfg.seed, device=cfg.device, n_test=4000)
    tcfg = replace(TV.PRESETS["paper"], seeds=cfg.seeds, seed=cfg.seed, device=cfg.device)
    fp, tp = F.make_problem(fcfg), TV.make_problem(tcfg)
    dev = fp["X"].device
    fin = _inits(seeds, f"{ID}/fourier-init", fcfg.n_freq, fcfg.hadamard_std, cfg.large_std, dev)
    tin = _inits(seeds, f"{ID}/tv-init", tp["signal"].shape[0], tcfg.designed_std, cfg.large_std, dev)
    FX = TV.cumsum_features(tp["A"])
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {"fourier": {}, "tv": {}}
    total, done = 2 * len(METHODS) * len(INITS), 0
    for method in METHODS:
        for init in INITS:
            cell = f"{method} | {init}"
            p, q, _ = train_hadamard(
                fp["X"], fp["y"], *fin[init], cfg.fourier_lr, cfg.fourier_steps,
                **_noise(method, cfg.fourier_batch, cfg.fourier_label_noise),
                seed=derive_seed(0, f"{ID}/f/{cell}"), chain_ids=seeds,
            )
            out["fourier"][cell] = F.evaluate(p * q, fp, fcfg.support_tol)
            done += 1
            progress(done, total, f"fourier {cell}")
            lr = cfg.tv_large_lr if (init == INITS[1] and cfg.tv_large_lr > 0) else cfg.tv_lr
            a, b, _ = train_hadamard(
                FX, tp["y"], *tin[init], lr, cfg.tv_steps,
                **_noise(method, cfg.tv_batch, cfg.tv_label_noise),
                seed=derive_seed(0, f"{ID}/tv/{cell}"), chain_ids=seeds,
            )
            out["tv"][cell] = TV.evaluate(torch.cumsum(a * b, -1), tp)
            done += 1
            progress(done, total, f"tv {cell}")
    return out


def is_sparse(problem: str, m: dict[str, np.ndarray], cfg: Config, k_true: int = 3, true_tv: float = 6.0) -> bool:
    """The sparsity criterion of the module docstring, on chain medians."""
    if problem == "fourier":
        return bool(np.median(m["support"]) <= 2 * k_true and np.median(m["test_mse"]) <= cfg.sparse_test_mse)
    return bool(np.median(m["tv"]) <= 5 * true_tv and np.median(m["recon_mse"]) <= cfg.sparse_recon_mse)


def run(cfg: Config, run_dir: RunDir, progress: Progress | None = None) -> ExperimentResult:
    """Run the grid, write ``ablation.json`` and a figure, and report one claim per cell."""
    sw = C.Stopwatch()
    out = grid(cfg, progress or no_progress)
    table = {pb: {cell: {k: v.tolist() for k, v in m.items()} for cell, m in cells.items()} for pb, cells in out.items()}
    verdicts = {pb: {cell: is_sparse(pb, m, cfg) for cell, m in cells.items()} for pb, cells in out.items()}
    run_dir.write_json("ablation", {"metrics": table, "sparse": verdicts})
    claims: list[Claim] = []
    for pb, cells in out.items():
        key = "test_mse" if pb == "fourier" else "recon_mse"
        key2 = "support" if pb == "fourier" else "tv"
        for cell, m in cells.items():
            own = cell == "full-batch | small init"
            paper = "sparse (paper's setting)" if own else "not studied"
            ok = (lambda v, ver=verdicts[pb][cell]: ver) if own else None
            claims.append(C.claim(
                ID, f"{pb}: {cell} — {key}", paper, m[key], ok,
                note=f"{key2}: {C.fmt(float(m[key2][0]))} (seed 0), median {C.fmt(float(np.median(m[key2])))}; "
                     f"sparse: {'yes' if verdicts[pb][cell] else 'no'}",
            ))
    return ExperimentResult(ID, claims, {"sparse": verdicts, "metrics": table, "chains": cfg.seeds}, [],
                            wall_time_s=sw.elapsed)


_KEYS = {"fourier": ("test_mse", "support"), "tv": ("recon_mse", "tv")}
METRICS = tuple(
    Metric(f"metrics.{pb}.{meth} | {init}.{key}", "1", f"{pb}: {key}, {meth}, {init}")
    for pb, keys in _KEYS.items() for key in keys for meth in METHODS for init in INITS
)


def figures(result: ExperimentResult, run_dir: RunDir) -> list[str]:
    """Bar charts of the noise × init grid (median, 10-90 % over chains), from ``result.metrics``."""
    from implicitbias.viz import curves

    data = result.metrics["metrics"]
    out = []
    for pb, key in (("fourier", "test_mse"), ("tv", "recon_mse")):
        tab: dict[str, dict[str, np.ndarray]] = {}
        for cell, m in data[pb].items():
            meth, init = cell.split(" | ")
            tab.setdefault(meth, {})[init] = np.asarray(m[key], float)
        p = curves.grouped_bars(tab, f"{pb}: {key}", run_dir.figure_path(f"ablation_{pb}"))
        out.append(str(p.relative_to(run_dir.path)))
    return out
