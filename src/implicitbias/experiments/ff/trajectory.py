"""Verdict statistics against training length, from the snapshots of each run.

A run trained with snapshots (:mod:`implicitbias.ff.snapshots`) contributes one point per
snapshot epoch below its total plus the finished run itself. Each point is analysed like a run
(layer 1 only, without TwoNN, CKA and the Mann–Whitney ensembles, which no verdict uses) and reduced to the
statistics of :mod:`implicitbias.experiments.ff.statistics`.

Result layout (JSON-safe), per dataset::

    {algo: {"epochs": [e_1, ..., e_T], stat: [[seed values] for each epoch], ...},
     "zero_shot": {"epochs": [...], "classes": [...], zs_stat: [[(class, seed) values] per epoch]}}

Epochs are per layer for greedy FF and global for BP/FF and BP (reference §3.8 conventions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from implicitbias.experiments.ff.statistics import RUN_STATS, ZS_STATS, run_stats, zero_shot_row
from implicitbias.ff.analyze_run import AnalysisOptions, analyze_run, load_representations

__all__ = ["run_points", "algo_trajectory", "zero_shot_trajectory"]


def run_points(run_path: str | Path, device: Any = "cpu") -> list[tuple[int, Path]]:
    """``[(epoch, folder)]``: the run's snapshots below its total (materialised if needed) and the run."""
    import json

    from implicitbias.ff.snapshot_eval import materialize

    path = Path(run_path)
    total = int(json.loads((path / "summary.json").read_text())["epochs"])
    snaps = materialize(path, device=device, only=range(1, total))  # the last point is the run itself
    return [(s, p) for s, p in sorted(snaps.items()) if s < total] + [(total, path)]


def algo_trajectory(
    runs: Sequence[tuple[str, dict[str, Any]]], similarity: np.ndarray | None, opts: AnalysisOptions,
    device: Any = "cpu", progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Statistics at every point of every seed of one (dataset, algo).

    Args:
        runs: ``(run path, its final analysis)`` per seed; the final analysis is reused.
        similarity: class-pair input similarity (K, K) for ρ.
        opts: analysis options of the experiment (TwoNN and the statistical ensembles are off here).
    """
    light = AnalysisOptions(samples=opts.samples, k=opts.k, n_id=0, stat_test=False, cka=False, max_layers=1)
    per_seed: list[dict[int, dict[str, float]]] = []
    for path, final in runs:
        pts: dict[int, dict[str, float]] = {}
        for epoch, folder in run_points(path, device):
            if progress is not None:
                progress(f"{Path(path).name} epoch {epoch}")
            res = final if Path(folder) == Path(path) else analyze_run(folder, light)
            pts[epoch] = run_stats(res, similarity)
        per_seed.append(pts)
    epochs = sorted(set().union(*(p.keys() for p in per_seed)))
    out: dict[str, Any] = {"epochs": epochs}
    for key, _ in RUN_STATS:
        out[key] = [[p.get(e, {}).get(key, float("nan")) for p in per_seed] for e in epochs]
    return out


def zero_shot_trajectory(
    runs: Sequence[tuple[str, int, int]], k: float, device: Any = "cpu",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Zero-shot statistics at every point of ``(run path, held-out class, seed)`` runs.

    Returns ``(trajectory, final rows)``; a final row holds the run's ``class``, ``seed``,
    ``test_acc_seen`` and its :func:`zero_shot_row` (true label; ``neutral`` too for
    label-conditioned runs).
    """
    import json

    per_run: list[dict[int, dict[str, float]]] = []
    finals: list[dict[str, Any]] = []
    for path, cls, seed in runs:
        pts: dict[int, dict[str, float]] = {}
        for epoch, folder in run_points(path, device):
            reps = load_representations(folder, max_layers=1)
            pts[epoch] = zero_shot_row(reps.layers["true"][0], reps.labels, cls, k, seed)
            if Path(folder) == Path(path):
                row = {"class": cls, "seed": seed, "true": pts[epoch]}
                if reps.label_conditioned:
                    row["neutral"] = zero_shot_row(reps.layers["neutral"][0], reps.labels, cls, k, seed)
                summ = json.loads((Path(path) / "summary.json").read_text())
                row["test_acc_seen"] = summ.get("test_acc_seen")
                finals.append(row)
        per_run.append(pts)
    epochs = sorted(set().union(*(p.keys() for p in per_run))) if per_run else []
    out: dict[str, Any] = {"epochs": epochs, "classes": [c for _, c, _ in runs]}
    for key, _ in ZS_STATS:
        out[key] = [[p.get(e, {}).get(key, float("nan")) for p in per_run] for e in epochs]
    return out, finals
