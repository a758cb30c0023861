"""``implicitbias ff analyze RUN_DIR [RUN_DIR ...]``: representation analysis of FF-engine runs.

For every run directory (written by ``implicitbias ff train``): sparsity, ensembles, label
controls, TwoNN, weight-sign / drive statistics → ``<RUN_DIR>/analysis.json`` and figures in
``<RUN_DIR>/figures/``; a summary table on stdout; with several runs on the same test set,
the linear CKA between their layers.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import typer

from implicitbias.cli.ff_cmd import ff_app
from implicitbias.errors import UserInputError


def _fmt(v: object, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and v != v) else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


@ff_app.command("analyze")
def analyze(
    run_dirs: list[Path] = typer.Argument(..., help="FF-engine run directories (containing representations.safetensors)."),
    samples: str = typer.Option("correct", help="'correct' (paper: correctly classified test samples) or 'all'."),
    k: float = typer.Option(1.0, help="Leave-one-out ensemble parameter k (paper: 1)."),
    tau: float = typer.Option(0.1, help="Threshold of the second active-fraction statistic."),
    n_id: int = typer.Option(2000, help="Points subsampled for the TwoNN intrinsic dimension (0 = skip)."),
    controls: bool = typer.Option(True, help="Neutral/wrong-label controls and the shuffled-label null."),
    stat_test: bool = typer.Option(True, help="Also find ensembles by Mann–Whitney + Benjamini–Hochberg."),
    figures: bool = typer.Option(True, help="Write wall / overlap / profile figures into each run's figures/."),
    seed: int = typer.Option(0, help="Seed of subsamples and splits."),
) -> None:
    """Analyse the representations of one or more FF / BP-FF / BP runs."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from implicitbias.analysis.geometry import linear_cka
    from implicitbias.ff.analyze_run import (
        AnalysisOptions,
        analyze_run,
        check_representations,
        load_representations,
        to_json,
    )
    from implicitbias.runs.atomic import atomic_write_json

    if samples not in ("correct", "all"):
        raise UserInputError(f"--samples must be 'correct' or 'all', got {samples!r}")
    if not (math.isfinite(k) and k > 0) or n_id < 0:
        raise UserInputError(f"--k must be a finite number > 0 (got {k}) and --n-id >= 0 (got {n_id})")
    if not (math.isfinite(tau) and tau >= 0):
        raise UserInputError(f"--tau must be a finite number >= 0 (got {tau})")
    for rd in run_dirs:  # every folder is checked (header and size) before anything is written
        check_representations(rd)
    opts = AnalysisOptions(samples=samples, k=k, tau=tau, n_id=n_id, stat_test=stat_test, controls=controls, seed=seed)
    console = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title="FF representation analysis")
    for col in ("run", "algo", "dataset", "seed", "acc", "layer", "Hoyer (zero rows)", "active", "dead", "|E| mean", "mixed", "ID"):
        table.add_column(col)
    loaded = []
    for rd in run_dirs:
        res = analyze_run(rd, opts)
        atomic_write_json(Path(rd) / "analysis.json", to_json(res))
        for d in res["layers"]:
            table.add_row(
                Path(rd).name, str(res["algo"]), str(res["dataset"]), str(res["seed"]), _fmt(float(res["test_acc"]), 4),
                str(d["layer"]), f"{_fmt(d['hoyer']['mean'])} ({d['hoyer']['n_zero']})", _fmt(d["active_frac"]),
                _fmt(d["dead_frac"]), _fmt(float(np.mean(d["ensemble_sizes"])), 1), str(d["mixed"]["n_mixed"]),
                _fmt(d.get("twonn_id"), 1),
            )
        reps = load_representations(rd)
        if figures:
            _figures(Path(rd), reps, res, k)
        loaded.append((Path(rd).name, reps))
    console.print(table)
    if len(loaded) > 1 and all(np.array_equal(loaded[0][1].labels, r.labels) for _, r in loaded[1:]):
        depth = min(r.num_layers for _, r in loaded)
        for li in range(depth):
            ct = Table(title=f"linear CKA (biased) between runs, layer {li + 1}, all test samples")
            ct.add_column("")
            for name, _ in loaded:
                ct.add_column(name)
            for name_a, ra in loaded:
                ct.add_row(name_a, *[_fmt(linear_cka(ra.layers["true"][li], rb.layers["true"][li])) for _, rb in loaded])
            console.print(ct)
    console.print(f"wrote analysis.json{' and figures' if figures else ''} into {len(run_dirs)} run folder(s)")


def _figures(path: Path, reps: object, res: dict, k: float) -> None:
    """Wall plot, overlap heatmap and class-mean profiles of every layer of one run."""
    from implicitbias.analysis.ensembles import ensembles_loo
    from implicitbias.viz import representations as F

    names = reps.summary.get("class_names")  # type: ignore[attr-defined]  # user datasets (--data)
    try:
        from implicitbias.data import dataset_info

        names = names or (dataset_info(str(res["dataset"])).classes if res.get("dataset") else None)
    except UserInputError:
        names = None
    fig_dir = path / "figures"
    sel = reps.pred == reps.labels if res["samples"] == "correct" else slice(None)
    for li, d in enumerate(res["layers"]):
        tag = f"{res['algo']} layer {li + 1}"
        F.wall_plot(reps.layers["true"][li][sel], reps.labels[sel], fig_dir / f"analysis_wall_layer{li + 1}.png", title=tag, class_names=names)
        F.overlap_heatmap(d["_members"].astype(int) @ d["_members"].astype(int).T, fig_dir / f"analysis_overlap_layer{li + 1}.png",
                          names, title=f"{tag}: ensemble overlap (k = {k:g})")
        F.class_mean_profiles(d["_profile"], ensembles_loo(d["_profile"], 2.0), fig_dir / f"analysis_profiles_layer{li + 1}.png",
                              names, title=f"{tag}: class-mean profiles (red: k = 2 ensemble)")
