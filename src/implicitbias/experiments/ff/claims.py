"""The paper's numbers and the five verdicts of ``ff_representations`` (Tosato et al.).

Thresholds (fixed before any run, unchanged since): (1) Δ = Hoyer_FF − Hoyer_BP > 0 on every
seed; (2) Δ = Hoyer_BP/FF − Hoyer_BP > 0 on every seed; (3) exclusive-ensemble fraction ≥ 0.8
and split-half Jaccard ≥ 0.5 on every seed; (4) ρ(overlap, visual similarity) > 0 on every seed
and ≥ 0.3 on average; (5) the held-out class's ensemble forms (non-empty, split-half Jaccard
≥ 0.5, max Jaccard with a seen class < 0.5) in every zero-shot run. Every across-seed number
is shown as mean [95 % t-interval] (:func:`~implicitbias.experiments.ff.statistics.mean_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from implicitbias.analysis.ff_compare import (
    cross_seed_stability,
    group_overlap_fraction,
    layer_table,
    overlap_similarity_rho,
    seed_values,
)
from implicitbias.experiments.base import Claim
from implicitbias.experiments.ff.statistics import mean_ci, paired

__all__ = ["PAPER_HOYER", "PAPER_ACC", "PAPER_L1", "NAMES", "ALGOS", "make_claims"]

ID = "ff_representations"
ALGOS = ("ff", "bpff", "bp")
NAMES = {"ff": "FF", "bpff": "BP/FF", "bp": "BP"}
#: Ranges across the authors' filtered runs (reference §5.3), layers 1/2/3.
PAPER_HOYER: dict[str, dict[str, list[tuple[float, float]]]] = {
    "mnist": {"ff": [(0.63, 0.90), (0.37, 0.67), (0.10, 0.76)], "bpff": [(0.91, 0.96), (0.67, 0.83), (0.03, 0.32)],
              "bp": [(0.31, 0.60), (0.19, 0.47), (0.22, 0.39)]},
    "fashion-mnist": {"ff": [(0.59, 0.83), (0.50, 0.61), (0.37, 0.77)],
                      "bpff": [(0.66, 0.94), (0.81, 0.85), (0.016, 0.17)],
                      "bp": [(0.32, 0.76), (0.24, 0.64), (0.25, 0.48)]},
}
#: Test accuracy ranges (reference §5.1).
PAPER_ACC: dict[str, dict[str, tuple[float, float]]] = {
    "mnist": {"ff": (0.930, 0.9585), "bpff": (0.9702, 0.9731), "bp": (0.9769, 0.9865)},
    "fashion-mnist": {"ff": (0.810, 0.8498), "bpff": (0.8704, 0.8780), "bp": (0.8812, 0.8963)},
}
#: Layer-1 Hoyer of the plotted runs (reference §5.2): FF, BP/FF, BP.
PAPER_L1 = {"mnist": (0.845, 0.937, 0.495), "fashion-mnist": (0.725, 0.880, 0.347)}
FMNIST_UPPER_BODY = (0, 2, 4, 6)  # T-shirt, Pullover, Coat, Shirt


def _fmt(v: float, digits: int = 3) -> str:
    return "nan" if v != v else f"{v:.{digits}f}"


def make_claims(
    schedule: str,
    k: float,
    with_id: bool,
    results: dict[str, dict[str, list[dict[str, Any]]]],
    zero: dict[str, dict[str, list[dict[str, Any]]]],
    sims: dict[str, np.ndarray],
) -> tuple[list[Claim], list[dict[str, Any]]]:
    """Claims and the per-layer table.

    Args:
        schedule: text naming a shortened schedule ("" = the paper's), added to the notes.
        k: the LOO ensemble parameter; with_id: the table has TwoNN columns.
        results: ``{dataset: {algo: [analysed run per seed]}}``.
        zero: ``{dataset: {algo: [final zero-shot rows]}}``
            (:func:`~implicitbias.experiments.ff.trajectory.zero_shot_trajectory`); the verdict
            uses FF's, other algorithms' are reported as controls.
        sims: ``{dataset: class-pair input similarity (K, K)}``.
    """
    table = layer_table(results, k, PAPER_HOYER, with_id=with_id)
    claims: list[Claim] = []

    def add(claim: str, paper: str, seed0: str, msd: str, ok: bool | None, note: str = "") -> None:
        verdict = "info" if ok is None else ("reproduced" if ok else "differs")
        claims.append(Claim(ID, claim, paper, seed0, msd, verdict, note))  # type: ignore[arg-type]

    for ds, R in results.items():
        sched = f"; {schedule}" if schedule else ""
        _per_algo(ds, R, add, sched)
        _verdicts_1_to_4(ds, R, sims[ds], k, add)
        _verdict_5(ds, zero.get(ds, {}), add)
    return claims, table


def _per_algo(ds: str, R: dict[str, list[dict[str, Any]]], add: Any, sched: str) -> None:
    for algo in ALGOS:
        acc = np.array([float(r["test_acc"]) for r in R[algo]])
        lo_hi = PAPER_ACC.get(ds, {}).get(algo)
        add(f"{ds} {NAMES[algo]} test accuracy", f"{lo_hi[0]:.4f}–{lo_hi[1]:.4f}" if lo_hi else "no paper number",
            _fmt(acc[0], 4), mean_ci(acc, "{:.4f}"), (lo_hi[0] <= acc.mean() <= lo_hi[1]) if lo_hi else None, sched[2:])
        for li in range(1, len(R[algo][0]["layers"]) + 1):
            h = seed_values(R[algo], li, "hoyer", "mean")
            rng = PAPER_HOYER.get(ds, {}).get(algo)
            rng_l = rng[li - 1] if rng and li <= len(rng) else None
            add(f"{ds} {NAMES[algo]} layer-{li} Hoyer", f"{rng_l[0]}–{rng_l[1]}" if rng_l else "no paper number",
                _fmt(h[0]), mean_ci(h), (rng_l[0] <= h.mean() <= rng_l[1]) if rng_l else None,
                "correctly classified test samples, true label" + sched)


def _verdicts_1_to_4(ds: str, R: dict[str, list[dict[str, Any]]], sim: np.ndarray, k: float, add: Any) -> None:
    ff = R["ff"]
    h_ff, h_bpff, h_bp = (seed_values(R[a], 1, "hoyer", "mean") for a in ALGOS)
    d1, d2 = paired(h_ff, h_bp), paired(h_bpff, h_bp)
    p1 = PAPER_L1.get(ds)
    add(f"(1) {ds}: FF layer 1 sparser than BP", f"FF {p1[0]} vs BP {p1[2]}" if p1 else "FF > BP (MNIST 0.845 vs 0.495)",
        f"FF {_fmt(h_ff[0])} vs BP {_fmt(h_bp[0])}", "Δ " + mean_ci(d1), bool(np.all(d1 > 0)),
        f"paired by seed; min Δ = {_fmt(d1.min())}; pass = Δ > 0 on every seed")
    add(f"(2) {ds}: BP/FF also sparse (layer 1 above BP)", f"BP/FF {p1[1]} vs BP {p1[2]}" if p1 else "BP/FF > BP (MNIST 0.937 vs 0.495)",
        f"BP/FF {_fmt(h_bpff[0])} vs BP {_fmt(h_bp[0])}", "Δ " + mean_ci(d2), bool(np.all(d2 > 0)),
        f"min Δ = {_fmt(d2.min())}; pass = Δ > 0 on every seed")
    L1 = [r["layers"][0] for r in ff]
    null_sh = np.array([x["shuffled_null"]["split_half_jaccard"] for x in L1], float)
    for cond in ("true", "neutral"):
        ex = np.array([x["controls"][cond]["exclusive_frac"] for x in L1], float)
        sh = np.array([x["controls"][cond]["split_half_jaccard"] for x in L1], float)
        if cond == "neutral":
            jv = np.array([x["controls"]["neutral"]["mean_jaccard_vs_reference"] for x in L1], float)
            extra = f"; Jaccard(neutral vs true ensembles) {mean_ci(jv, '{:.2f}')}"
        else:
            cs = cross_seed_stability(ff, 1, k)
            extra = f"; cross-seed matched Jaccard {mean_ci(cs, '{:.2f}') if cs else 'n/a'}"
        add(f"(3) {ds}: FF layer-1 ensembles category-specific ({cond} label)",
            "ensembles per class, overlaps only among similar classes",
            f"exclusive {_fmt(ex[0], 2)}, split-half J {_fmt(sh[0], 2)}",
            f"exclusive {mean_ci(ex, '{:.2f}')}; split-half J {mean_ci(sh, '{:.2f}')}",
            bool(np.all(ex >= 0.8) and np.all(sh >= 0.5)),
            f"pass = exclusive ≥ 0.8 and split-half J ≥ 0.5 on every seed; shuffled-label null split-half J "
            f"{mean_ci(null_sh, '{:.2f}')}{extra}")
    rho = np.array([overlap_similarity_rho(x["_members"], sim) for x in L1])
    add(f"(4) {ds}: FF layer-1 overlaps follow visual similarity", "overlaps among similar classes only (F-MNIST)",
        f"ρ {_fmt(rho[0], 2)}", "ρ " + mean_ci(rho, "{:.2f}"), bool(np.all(rho > 0) and np.nanmean(rho) >= 0.3),
        "Spearman ρ(Jaccard, cosine similarity of centred class-mean images) over class pairs; "
        "pass = ρ > 0 on every seed and mean ≥ 0.3")
    if ds == "fashion-mnist":
        g = np.array([group_overlap_fraction(x["_members"], FMNIST_UPPER_BODY) for x in L1])
        add(f"{ds}: share of FF layer-1 overlap within T-shirt/Pullover/Coat/Shirt", "1.0 (all 16 shared units)",
            _fmt(g[0], 2), mean_ci(g, "{:.2f}"), bool(np.nanmean(g) >= 0.9), "pass = mean ≥ 0.9")
        fr = np.array([np.mean(x["ensemble_sizes"]) / x["width"] for x in L1])
        add(f"{ds}: FF layer-1 ensemble size (fraction of units, class mean)", "0.022–0.091 (22–91 of 1000)",
            _fmt(fr[0]), mean_ci(fr), bool(0.022 <= fr.mean() <= 0.091), "k = 1 LOO rule")


def _verdict_5(ds: str, zero: dict[str, Sequence[dict[str, Any]]], add: Any) -> None:
    rows = zero.get("ff", [])
    if not rows:
        add(f"(5) {ds}: zero-shot ensembles form", "unseen classes get ensembles", "", "", None, "no zero-shot runs")
        return
    forms = np.array([r["true"]["zs_forms"] for r in rows], float)
    sh = np.array([r["true"]["zs_split_half"] for r in rows], float)
    mj = np.array([r["true"]["zs_max_jaccard"] for r in rows], float)
    classes = sorted({int(r["class"]) for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    per_class = ", ".join(f"{c}: {int(sum(r['true']['zs_forms'] for r in rows if r['class'] == c))}/"
                          f"{sum(1 for r in rows if r['class'] == c)}" for c in classes)
    neutral = [r["neutral"]["zs_forms"] for r in rows if "neutral" in r]
    r0 = rows[0]["true"]
    add(f"(5) {ds}: zero-shot FF layer-1 ensemble forms ({len(classes)} held-out class(es) × {len(seeds)} seed(s))",
        "unseen classes get ensembles (v4, protocol unknown)",
        f"class {rows[0]['class']}: |E| {int(r0['zs_size'])}, split-half J {_fmt(r0['zs_split_half'], 2)}, "
        f"max J seen {_fmt(r0['zs_max_jaccard'], 2)}",
        f"forms in {int(forms.sum())}/{forms.size} runs; split-half J {mean_ci(sh, '{:.2f}')}; max J seen {mean_ci(mj, '{:.2f}')}",
        bool(forms.all()),
        f"pass = forms in every (class, seed) run; per class {per_class}"
        + (f"; neutral-label variant forms in {int(sum(neutral))}/{len(neutral)}" if neutral else "")
        + "".join(f"; {NAMES.get(a, a)} forms in {int(sum(r['true']['zs_forms'] for r in rs))}/{len(rs)}"
                  for a, rs in zero.items() if a != "ff" and rs))
