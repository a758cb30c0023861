"""``implicitbias analyze FILE.safetensors [FILE2 ...]``: the ``ff analyze`` analysis of any network's activations.

Each file is an activations file (:mod:`implicitbias.analysis.activations_file`, written by
``save_activations`` after ``capture``). For each file: ``<stem>.analysis.json`` and figures in
``<stem>_figures/`` next to it, a row per layer in the sparsity / ensemble table; with several
files on the same labels, the linear CKA between their layers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from implicitbias.cli import app
from implicitbias.errors import UserInputError


@app.command("analyze")
def analyze(
    files: list[Path] = typer.Argument(..., help="Activations files (.safetensors, see docs/your-data.md)."),
    samples: str = typer.Option("correct", help="'correct' (correctly classified samples; all when no predictions are stored) or 'all'."),
    k: float = typer.Option(1.0, help="Leave-one-out ensemble parameter k (paper: 1)."),
    tau: float = typer.Option(0.1, help="Threshold of the second active-fraction statistic."),
    n_id: int = typer.Option(2000, help="Points subsampled for the TwoNN intrinsic dimension (0 = skip)."),
    stat_test: bool = typer.Option(True, help="Also find ensembles by Mann–Whitney + Benjamini–Hochberg."),
    figures: bool = typer.Option(True, help="Write wall / overlap / profile figures per layer."),
    seed: int = typer.Option(0, help="Seed of subsamples and splits."),
) -> None:
    """Sparsity, ensembles, TwoNN and CKA of activations captured from any network."""
    from rich.console import Console
    from rich.table import Table

    from implicitbias.analysis.activations_file import (
        analyze_activations,
        load_activations,
        summary_rows,
    )
    from implicitbias.analysis.geometry import linear_cka
    from implicitbias.analysis.representations import AnalysisOptions, to_json
    from implicitbias.runs.atomic import atomic_write_json

    if samples not in ("correct", "all"):
        raise UserInputError(f"--samples must be 'correct' or 'all', got {samples!r}")
    if k <= 0 or n_id < 0:
        raise UserInputError("--k must be > 0 and --n-id >= 0")
    opts = AnalysisOptions(samples=samples, k=k, tau=tau, n_id=n_id, stat_test=stat_test, controls=False, seed=seed)
    loaded = [(f, load_activations(f)[0]) for f in files]  # every file is checked before anything is written
    console = Console(width=None if sys.stdout.isatty() else 160)
    table = Table(title="representation analysis")
    notes: set[str] = set()
    for f, cap in loaded:
        res = analyze_activations(cap, opts)
        notes.update(res["notes"])
        atomic_write_json(f.with_name(f"{f.stem}.analysis.json"), to_json(res))
        for row in summary_rows(res, f.stem):
            if not table.columns:
                for col in row:
                    table.add_column(col)
            table.add_row(*row.values())
        if figures:
            _figures(f.with_name(f"{f.stem}_figures"), cap, res, k)
    console.print(table)
    if len(loaded) > 1 and all(r.labels is not None and r.labels.shape == loaded[0][1].labels.shape and (r.labels == loaded[0][1].labels).all() for _, r in loaded[1:]):
        ct = Table(title="linear CKA (biased) between files, every pair of layers, all samples")
        ct.add_column("")
        cols = [(f.stem, name, a) for f, c in loaded for name, a in c.layers.items()]
        for stem, name, _ in cols:
            ct.add_column(f"{stem}:{name}")
        for stem, name, a in cols:
            ct.add_row(f"{stem}:{name}", *[f"{linear_cka(a.astype('float32'), b.astype('float32')):.3f}" for _, _, b in cols])
        console.print(ct)
    for n in sorted(notes):
        console.print(f"note: {n}")
    console.print(f"wrote <file>.analysis.json{' and <file>_figures/' if figures else ''} for {len(files)} file(s)")


def _figures(fig_dir: Path, cap: object, res: dict, k: float) -> None:
    """Wall plot, overlap heatmap and class-mean profiles of every layer (as ``ff analyze``)."""
    import numpy as np

    from implicitbias.analysis.ensembles import ensembles_loo
    from implicitbias.viz import representations as F

    names = cap.class_names  # type: ignore[attr-defined]
    pred = cap.pred if cap.pred is not None else cap.labels  # type: ignore[attr-defined]
    sel = pred == cap.labels if res["samples"] == "correct" else slice(None)  # type: ignore[attr-defined]
    for (lname, a), d in zip(cap.layers.items(), res["layers"], strict=True):  # type: ignore[attr-defined]
        tag = f"{lname}"
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in lname)
        F.wall_plot(np.asarray(a, np.float32)[sel], cap.labels[sel], fig_dir / f"wall_{safe}.png", title=tag, class_names=names)  # type: ignore[attr-defined]
        mem = d["_members"].astype(int)
        F.overlap_heatmap(mem @ mem.T, fig_dir / f"overlap_{safe}.png", names, title=f"{tag}: ensemble overlap (k = {k:g})")
        F.class_mean_profiles(d["_profile"], ensembles_loo(d["_profile"], 2.0), fig_dir / f"profiles_{safe}.png", names,
                              title=f"{tag}: class-mean profiles (red: k = 2 ensemble)")
