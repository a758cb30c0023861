"""The five verdict statistics of finished ``ff_representations`` runs, side by side.

For each run directory (its ``training_length.json`` and ``result.json``) and dataset, every
verdict statistic at the run's final point and at its previous snapshot point:

* (1) Δ₁ = Hoyer_FF − Hoyer_BP and (2) Δ₂ = Hoyer_BP/FF − Hoyer_BP (layer 1, paired by seed);
* (3) FF exclusive-ensemble fraction and split-half Jaccard;
* (4) FF ρ(overlap, visual similarity);
* (5) fraction of zero-shot runs whose ensemble forms, their split-half and max-seen Jaccard.

Each is a mean with its 95 % t-interval (:func:`~implicitbias.experiments.ff.statistics.interval95`).
A statistic is **still moving** when the paired change from the previous point to the final one
has a 95 % interval that excludes 0; two runs **differ** on a statistic when their intervals
are disjoint. :func:`markdown` renders the table (``implicitbias ff verdicts RUN ...``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from implicitbias.errors import UserInputError
from implicitbias.experiments.ff.statistics import interval95, paired

__all__ = ["STATISTICS", "verdict_statistics", "markdown"]

#: (verdict, label, how to compute from one dataset's trajectory).
STATISTICS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("(1)", "Δ Hoyer L1, FF − BP", ("diff", "ff", "bp", "hoyer")),
    ("(2)", "Δ Hoyer L1, BP/FF − BP", ("diff", "bpff", "bp", "hoyer")),
    ("(3)", "FF exclusive fraction", ("one", "ff", "exclusive")),
    ("(3)", "FF split-half J", ("one", "ff", "split_half")),
    ("(4)", "FF ρ(overlap, similarity)", ("one", "ff", "rho")),
    ("(5)", "zero-shot forms (fraction of runs)", ("one", "zero_shot", "zs_forms")),
    ("(5)", "zero-shot split-half J", ("one", "zero_shot", "zs_split_half")),
    ("(5)", "zero-shot max J with a seen class", ("one", "zero_shot", "zs_max_jaccard")),
    ("", "FF L1 dead fraction", ("one", "ff", "dead")),
    ("", "FF test accuracy", ("one", "ff", "acc")),
    ("", "BP/FF test accuracy", ("one", "bpff", "acc")),
    ("", "BP test accuracy", ("one", "bp", "acc")),
)


def _series(t: dict[str, Any], spec: tuple[str, ...], idx: int) -> tuple[np.ndarray, str] | None:
    """Per-seed values of a statistic at point ``idx`` (−1 final, −2 previous) and its epochs."""
    def at(series: str, key: str) -> tuple[np.ndarray, int] | None:
        s = t.get(series)
        if not s or key not in s or len(s["epochs"]) < -idx:
            return None
        return np.asarray(s[key][idx], dtype=float), int(s["epochs"][idx])

    if spec[0] == "diff":
        a, b = at(spec[1], spec[3]), at(spec[2], spec[3])
        if a is None or b is None:
            return None
        return paired(a[0], b[0]), f"{a[1]}/{b[1]}"
    v = at(spec[1], spec[2])
    return None if v is None else (v[0], str(v[1]))


def verdict_statistics(run_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """``{dataset: [row per statistic]}`` of one experiment run directory (module docstring)."""
    path = Path(run_dir)
    f = path / "training_length.json"
    if not f.exists():
        raise UserInputError(f"{path} has no training_length.json (not a finished ff_representations run)")
    traj = json.loads(f.read_text())
    res = path / "result.json"
    claims = json.loads(res.read_text()).get("claims", []) if res.exists() else []
    out: dict[str, list[dict[str, Any]]] = {}
    for ds, t in traj.items():
        rows = []
        for verdict, label, spec in STATISTICS:
            fin = _series(t, spec, -1)
            if fin is None:
                continue
            row: dict[str, Any] = {"verdict": verdict, "statistic": label, "epochs": fin[1],
                                   "values": fin[0].tolist(), "interval": interval95(fin[0])}
            found = [c["verdict"] for c in claims if verdict and c.get("claim", "").startswith(f"{verdict} {ds}:")]
            if found:  # (3) has a true- and a neutral-label claim: the true-label one comes first
                row["claim_verdict"] = found[0]
            prev = _series(t, spec, -2)
            if prev is not None and prev[0].size == fin[0].size:
                row["previous_epochs"] = prev[1]
                row["change"] = interval95(fin[0] - prev[0])
                lo, hi = row["change"][1:]
                row["moving"] = bool(np.isfinite(lo) and (lo > 0 or hi < 0))
            rows.append(row)
        out[ds] = rows
    return out


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    m, lo, hi = row["interval"]
    n = int(np.isfinite(row["values"]).sum())
    s = f"{m:.3f} [{lo:.3f}, {hi:.3f}] n={n} @ {row['epochs']}"
    if "claim_verdict" in row:
        s = f"**{row['claim_verdict']}** " + s
    if "change" in row:
        c = row["change"][0]
        s += f"; from {row['previous_epochs']}: {c:+.3f}" + (" (moving)" if row["moving"] else "")
    return s


def markdown(run_dirs: Sequence[str | Path], names: Sequence[str] | None = None) -> str:
    """A markdown table: one row per (dataset, statistic), one column per run, and whether the
    intervals of the first and the last run are disjoint."""
    names = list(names) if names else [Path(r).name for r in run_dirs]
    stats = [verdict_statistics(r) for r in run_dirs]
    datasets = list(dict.fromkeys(ds for s in stats for ds in s))
    head = "| dataset | verdict | statistic | " + " | ".join(names) + (" | first vs last |" if len(stats) > 1 else "")
    lines = [head, "|" + "---|" * (3 + len(stats) + (1 if len(stats) > 1 else 0))]
    for ds in datasets:
        for verdict, label, _ in STATISTICS:
            rows = [next((r for r in s.get(ds, []) if r["statistic"] == label), None) for s in stats]
            if all(r is None for r in rows):
                continue
            cells = [_cell(r) for r in rows]
            if len(stats) > 1:
                a, b = rows[0], rows[-1]
                if a is None or b is None:
                    cells.append("–")
                else:
                    disjoint = a["interval"][2] < b["interval"][1] or b["interval"][2] < a["interval"][1]
                    cells.append("changes" if disjoint else "no change detected")
            lines.append(f"| {ds} | {verdict} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
