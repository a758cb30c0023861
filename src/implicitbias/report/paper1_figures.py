"""Redraw the figures of the five paper experiments from a completed run directory.

Each experiment writes its figures while running; these functions redraw them from the
saved ``arrays.safetensors`` (and ``config.json``) alone, like the paper's
``00_redo_plots.py``. Use :func:`redraw` with any completed run of ``relu_balance``,
``attention_balance``, ``matrix_completion``, ``fourier_sparsity`` or ``tv_recovery``
(``noise_init_ablation`` stores a table, redrawn by :func:`ablation_figures`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from implicitbias.errors import UserInputError
from implicitbias.runs import RunDir

__all__ = ["redraw", "FIGURES", "ablation_figures"]


def _relu(run: RunDir, cfg: dict) -> list[Path]:
    from implicitbias.experiments._paper1_plots import plot_ratio_curves

    a = run.load_arrays()
    k = int(cfg.get("discard_logs", 1))
    p = run.figure_path("fig2_relu_ratios")
    plot_ratio_curves(a["steps"].numpy()[k:], a["ratios"].double().numpy()[k:], p,
                      ylabel=r"$|v_j| / \|w_j\|$", title="Shallow ReLU: per-unit balance")
    return [p]


def _attention(run: RunDir, cfg: dict) -> list[Path]:
    from implicitbias.experiments._paper1_plots import plot_ratio_curves

    a = run.load_arrays()
    k = int(cfg.get("discard_logs", 5))
    p = run.figure_path("fig3_attention_ratios")
    plot_ratio_curves(a["steps"].numpy()[k:], a["col_ratios"].double().numpy()[k:], p,
                      ylabel=r"$\|W_Q[:,j]\| / \|W_K[:,j]\|$", title="Single-head attention: Q/K column balance",
                      extra={"Frobenius": a["fro_ratio"].double().numpy()[k:],
                             "nuclear": a["nuc_ratio"].double().numpy()[k:]})
    return [p]


def _mc(run: RunDir, cfg: dict) -> list[Path]:
    from implicitbias.experiments._paper1_plots import plot_matrix_completion

    a = run.load_arrays()
    true_sv = tuple(cfg.get("true_sv", (15.0, 5.0)))
    k = len(true_sv)
    sv = a["sv"].double()
    est = torch.stack([2 * sv[:, :, :k], sv[:, :, :k]], dim=2).numpy()
    p = run.figure_path("fig4_matrix_completion")
    plot_matrix_completion(a["steps"].numpy(), est, a["mode_ratios"].double().numpy(), true_sv, p)
    return [p]


def _fourier(run: RunDir, cfg: dict) -> list[Path]:
    from implicitbias.data.synthetic import cosine_features
    from implicitbias.experiments._paper1_plots import plot_spectral

    a = run.load_arrays()
    tg = torch.linspace(0, 1, 1000)
    p = run.figure_path("fig5_spectral")
    plot_spectral(a["w_true"].numpy(), {"Vanilla": a["w_vanilla"].numpy(), "Designed (Hadamard)": a["w_hadamard"].numpy()},
                  tg.numpy(), cosine_features(tg, int(cfg.get("n_freq", 64))).numpy(), p)
    return [p]


def _tv(run: RunDir, cfg: dict) -> list[Path]:
    from implicitbias.experiments._paper1_plots import plot_tv

    a = run.load_arrays()
    p = run.figure_path("fig6_tv")
    plot_tv(a["signal"].numpy(), {"Vanilla": a["vanilla"].numpy(), "Designed (cumsum-Hadamard)": a["designed"].numpy()}, p)
    return [p]


def ablation_figures(run: RunDir, cfg: dict | None = None) -> list[Path]:
    """Bar charts of the noise × init grid from ``ablation.json``."""
    from implicitbias.experiments._paper1_plots import plot_ablation

    data = run.read_json("ablation")["metrics"]
    out = []
    for pb, key in (("fourier", "test_mse"), ("tv", "recon_mse")):
        tab: dict[str, dict[str, np.ndarray]] = {}
        for cell, m in data[pb].items():
            meth, init = cell.split(" | ")
            tab.setdefault(meth, {})[init] = np.asarray(m[key], float)
        p = run.figure_path(f"ablation_{pb}")
        plot_ablation(tab, f"{pb}: {key}", p)
        out.append(p)
    return out


FIGURES = {
    "relu_balance": _relu,
    "attention_balance": _attention,
    "matrix_completion": _mc,
    "fourier_sparsity": _fourier,
    "tv_recovery": _tv,
    "noise_init_ablation": ablation_figures,
}
"""experiment id -> ``fn(run_dir, config_dict) -> [figure paths]``."""


def redraw(run_dir: str | Path) -> list[Path]:
    """Redraw the figures of a completed run directory; returns the written paths."""
    path = Path(run_dir)
    if not (path / "config.json").exists():
        raise UserInputError(f"{path} is not a run directory (no config.json)")
    run = RunDir(path=path, experiment=path.parent.name)
    rec = run.config_record()
    exp = rec.get("experiment", path.parent.name)
    if exp not in FIGURES:
        raise UserInputError(f"no paper-1 figures for experiment {exp!r}")
    return FIGURES[exp](run, rec.get("config", {}))
