"""Figures of ``ff_representations``: walls, per-class Hoyer, overlaps, profiles, sparsity vs
accuracy and the verdict statistics against training length, drawn from a run directory alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from implicitbias.analysis.ensembles import ensembles_loo
from implicitbias.analysis.ff_compare import per_class_hoyer
from implicitbias.experiments.base import ExperimentResult
from implicitbias.experiments.ff.claims import ALGOS, NAMES, PAPER_ACC, PAPER_L1
from implicitbias.experiments.ff.statistics import RUN_STATS, ZS_STATS, interval95
from implicitbias.ff.analyze_run import load_representations
from implicitbias.runs import RunDir

__all__ = ["figures"]


def _length_panels(ds: str, traj: dict[str, Any]) -> tuple[list[tuple[str, str, tuple[str, ...]]], dict[str, Any]]:
    """Panels and reference lines of the training-length figure of ``ds`` (series with data only)."""
    labels = dict(RUN_STATS) | dict(ZS_STATS)
    want = [("hoyer", ALGOS), ("acc", ALGOS), ("dead", ALGOS), ("exclusive", ("ff", "bpff")),
            ("split_half", ("ff", "bpff")), ("rho", ALGOS), ("zs_split_half", ("zero_shot",)),
            ("zs_max_jaccard", ("zero_shot",))]
    panels = [(k, labels[k], ser) for k, ser in want if any(len(traj.get(a, {}).get("epochs", [])) for a in ser)]
    l1, acc = PAPER_L1.get(ds), PAPER_ACC.get(ds, {})
    refs: dict[str, Any] = {
        "exclusive": {"*": (0.8, "verdict (3) threshold 0.8")}, "split_half": {"*": (0.5, "verdict (3) threshold 0.5")},
        "rho": {"*": (0.3, "verdict (4) mean threshold 0.3")}, "zs_split_half": {"*": (0.5, "verdict (5): ≥ 0.5")},
        "zs_max_jaccard": {"*": (0.5, "verdict (5): < 0.5")},
    }
    if l1:
        refs["hoyer"] = {a: (v, f"paper {NAMES[a]} {v}") for a, v in zip(ALGOS, l1, strict=True)}
    if acc:
        refs["acc"] = {a: (sum(r) / 2, f"paper {NAMES[a]} {r[0]:.3f}–{r[1]:.3f}") for a, r in acc.items()}
    return panels, refs


def _length_curves(traj: dict[str, Any]) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]]:
    """Per series and statistic: epochs and the mean with its 95 % t-interval over seeds (:func:`interval95`)."""
    out: dict[str, dict[str, Any]] = {}
    for series, t in traj.items():
        x = np.asarray(t.get("epochs", []), dtype=float)
        if not len(x):
            continue
        for key, vals in t.items():
            if key in ("epochs", "classes"):
                continue
            Y = np.array([[np.nan if v is None else v for v in row] for row in vals], dtype=float).reshape(len(x), -1)
            m, lo, hi = (np.array(c) for c in zip(*(interval95(row) for row in Y), strict=True))
            out.setdefault(series, {})[key] = (x, m, lo, hi, Y.shape[1])
    return out


def figures(result: ExperimentResult, run_dir: RunDir) -> list[str]:
    """Per dataset: activation walls (seed 0, layer 1, units grouped by preferred class),
    per-class Hoyer, FF overlap heatmap and class-mean profiles, sparsity vs accuracy, and the
    verdict statistics against training length (``training_length.json``).

    Reads ``ff_analysis.json``, ``training_length.json`` and ``profiles.safetensors`` of this
    run and the seed-0 representations of the FF-engine runs it lists.
    """
    from implicitbias.data import dataset_info
    from implicitbias.viz import representations as F
    from implicitbias.viz.training_length import training_length

    rec = run_dir.config_record()["config"]
    k, samples = float(rec.get("k", 1.0)), rec.get("samples", "correct")
    analysis = run_dir.read_json("ff_analysis")
    profiles = run_dir.load_arrays("profiles")
    lengths = run_dir.read_json("training_length") if (run_dir.path / "training_length.json").exists() else {}
    out: list[Path] = []
    for ds, R in analysis["runs"].items():
        names = tuple(analysis.get("class_names", {}).get(ds) or dataset_info(ds).classes)
        points = []
        for algo in ALGOS:
            reps = load_representations(R[algo][0]["run"])
            sel = reps.pred == reps.labels if samples == "correct" else np.ones(reps.labels.size, bool)
            out.append(F.wall_plot(reps.layers["true"][0][sel], reps.labels[sel], run_dir.figure_path(f"wall_{ds}_{algo}_layer1"),
                                   title=f"{ds} {NAMES[algo]} layer 1 (seed 0)", class_names=names))
            points += [(algo, float(r["layers"][0]["hoyer"]["mean"]), float(r["test_acc"])) for r in R[algo]]
        per, err = per_class_hoyer(R, len(names))
        out.append(F.class_sparsity_bars(per, run_dir.figure_path(f"class_hoyer_{ds}"), names, err,
                                         title=f"{ds}: per-class Hoyer (mean ± sd over seeds)"))
        out.append(F.overlap_heatmap(np.asarray(R["ff"][0]["layers"][0]["overlap"]), run_dir.figure_path(f"overlap_{ds}_ff_layer1"),
                                     names, title=f"{ds} FF layer 1: ensemble overlap (k = {k:g}, seed 0)"))
        prof = profiles[f"profile/{ds}"].numpy()
        out.append(F.class_mean_profiles(prof, ensembles_loo(prof, 2.0), run_dir.figure_path(f"profiles_{ds}_ff_layer1"),
                                         names, title=f"{ds} FF layer 1: class-mean profiles (red: k = 2 ensemble, seed 0)"))
        out.append(F.sparsity_vs_accuracy(points, run_dir.figure_path(f"sparsity_vs_accuracy_{ds}"), title=f"{ds}"))
        t = lengths.get(ds)
        if t:
            panels, refs = _length_panels(ds, t)
            out.append(training_length(_length_curves(t), panels, refs, run_dir.figure_path(f"training_length_{ds}"),
                                       title=f"{ds}: verdict statistics against training length (mean, 95 % t-interval over seeds)"))
    return [str(p.relative_to(run_dir.path)) for p in out]
