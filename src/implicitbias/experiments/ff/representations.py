"""Tosato et al. (arXiv 2305.18353): sparse, category-specific ensembles in FF and BP/FF, not BP.

Trains FF, BP/FF and BP with several seeds per dataset (the paper analysed one run), runs
:mod:`implicitbias.analysis` on every run and reports, next to the paper's numbers
(reference ``forward-forward.md`` §5), per-layer Hoyer sparseness, accuracy and ensemble
statistics, plus five verdicts, each with its statistic and seed spread:

1. FF layer 1 is sparser than BP (paired by seed: Hoyer_FF > Hoyer_BP on every seed);
2. BP/FF is also sparse (Hoyer_BP/FF > Hoyer_BP on every seed);
3. FF layer-1 ensembles are category-specific: on every seed ≥ 80 % of ensemble units
   belong to one class only, and ensembles replicate across halves of the test set (mean
   split-half Jaccard ≥ 0.5); checked again under the neutral-label control;
4. mixed selectivity follows visual similarity: Spearman ρ between the FF layer-1 overlap
   (Jaccard) and the cosine similarity of the class-mean input images is > 0 on every seed
   and ≥ 0.3 on average;
5. zero-shot ensembles form: with one class held out of training, its test images evoke a
   non-empty, consistent (split-half Jaccard ≥ 0.5), distinct (Jaccard < 0.5 with every seen
   class) FF layer-1 ensemble on every zero-shot seed.

The thresholds were fixed before any run. Presets:

* ``quick``: sklearn digits, 5 seeds, 10 epochs per phase, 2 × 256 units (≈ 30–50 s with one
  torch thread on a loaded 2-core box);
* ``cpu``: MNIST + Fashion-MNIST, 5 seeds, FF 5 epochs per layer, BP/FF and BP 3 epochs, with
  the engine's ``*_quick`` learning rates (FF 0.01, BP/FF and BP 1e-3); measured ≈ 25 min wall
  with one process per dataset and one torch thread each on a shared 2-core box;
* ``paper``: the paper's schedules (reference §3.8), 5 seeds; ``full``: ``paper`` + CIFAR-10
  (JPEG q75 copy).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from implicitbias.analysis.ensembles import ensembles_loo
from implicitbias.analysis.ff_compare import (
    cross_seed_stability,
    group_overlap_fraction,
    input_similarity,
    layer_table,
    overlap_similarity_rho,
    per_class_hoyer,
    seed_values,
)
from implicitbias.analysis.zeroshot import zero_shot_forms, zero_shot_stats
from implicitbias.config import bounded
from implicitbias.errors import UserInputError
from implicitbias.experiments.base import (
    Claim,
    ExperimentResult,
    Metric,
    Progress,
    mean_sd,
    no_progress,
)
from implicitbias.ff.analyze_run import AnalysisOptions, analyze_run, load_representations, to_json
from implicitbias.runs import RunDir

ID = "ff_representations"
TITLE = "FF and BP/FF learn sparse, category-specific ensembles; BP does not (Tosato et al.)"
ALGOS = ("ff", "bpff", "bp")
__all__ = ["ID", "TITLE", "Config", "PRESETS", "METRICS", "run", "figures", "PAPER_HOYER", "PAPER_ACC"]


@dataclass(frozen=True)
class Config:
    """``ff_representations`` settings.

    Attributes:
        datasets / ff_presets: datasets and the FF-engine preset of each (same order).
        seeds: seeds per (dataset, algo).
        ff_epochs / bpff_epochs / bp_epochs: 0 = the preset's (paper) value; FF epochs are per layer.
        zero_shot_class: class held out of training for claim 5 (−1: no zero-shot runs).
        zero_shot_seeds / zero_shot_algos: zero-shot runs.
        k: LOO ensemble parameter; samples: ``correct`` (paper) or ``all``.
        n_id: points for TwoNN (0 = skip); stat_test: also the Mann–Whitney/BH ensembles.
        device: ``auto`` | ``cpu`` | ``cuda``; runs_root: where FF runs go ("" = the runs root).
        data: a user dataset (image folder / tarball, ``.npz``, CSV; docs/your-data.md) used
            instead of ``datasets``, trained with the ``*_AUTO`` presets at their data-sized
            epochs (``ff_epochs`` etc. are then ignored); zero-shot runs only if the class exists.
    """

    datasets: tuple[str, ...] = bounded(("digits",), min_len=1)
    ff_presets: tuple[str, ...] = ("DIGITS_quick",)
    seeds: int = bounded(5, ge=1, le=1000)
    ff_epochs: int = bounded(10, ge=0, le=1_000_000)
    bpff_epochs: int = bounded(10, ge=0, le=1_000_000)
    bp_epochs: int = bounded(10, ge=0, le=1_000_000)
    zero_shot_class: int = bounded(7, ge=-1)
    zero_shot_seeds: int = bounded(1, ge=0, le=1000)
    zero_shot_algos: tuple[str, ...] = ("ff",)
    k: float = bounded(1.0, gt=0)
    samples: str = "correct"
    n_id: int = bounded(500, ge=0)
    stat_test: bool = True
    device: str = "auto"
    runs_root: str = ""
    data: str = ""

    def validate(self) -> None:
        """Cross-field checks (called when a config is read from ``--set`` or JSON)."""
        if len(self.datasets) != len(self.ff_presets):
            raise UserInputError('datasets and ff_presets must have the same length')
        if self.samples not in ('correct', 'all'):
            raise UserInputError(f"samples must be 'correct' or 'all', got {self.samples!r}")


_CPU = Config(
    datasets=("mnist", "fashion-mnist"), ff_presets=("TOSATO_MNIST_quick", "TOSATO_FMNIST_quick"), seeds=5,
    ff_epochs=5, bpff_epochs=3, bp_epochs=3, zero_shot_seeds=1, zero_shot_algos=("ff", "bp"), n_id=2000,
)
_PAPER = dataclasses.replace(
    _CPU, ff_presets=("TOSATO_MNIST", "TOSATO_FMNIST"), ff_epochs=0, bpff_epochs=0, bp_epochs=0, zero_shot_seeds=5
)
PRESETS: dict[str, Config] = {
    "quick": Config(),
    "cpu": _CPU,
    "paper": _PAPER,
    "full": dataclasses.replace(
        _PAPER, datasets=(*_PAPER.datasets, "cifar10"), ff_presets=(*_PAPER.ff_presets, "TOSATO_CIFAR10")
    ),
}

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
NAMES = {"ff": "FF", "bpff": "BP/FF", "bp": "BP"}


def _ff_config(cfg: Config, preset: str, algo: str, seed: int, exclude: tuple[int, ...] = ()) -> Any:
    from implicitbias.ff import get_preset

    epochs = {"ff": cfg.ff_epochs, "bpff": cfg.bpff_epochs, "bp": cfg.bp_epochs}[algo]
    if cfg.data:
        return dataclasses.replace(get_preset("FF_AUTO"), algo=algo, seed=seed, exclude_classes=exclude, data=cfg.data)
    return dataclasses.replace(
        get_preset(preset), algo=algo, seed=seed, epochs=epochs or None, exclude_classes=exclude
    )


def _datasets(cfg: Config) -> dict[str, Any]:
    """``{name: (preset, test-set loader, class names)}`` of the built-in datasets or of ``cfg.data``."""
    from implicitbias.data import dataset_info, load_dataset

    if cfg.data:
        from implicitbias.data.userdata import load_user_data

        ud = load_user_data(cfg.data)
        return {Path(cfg.data).name: ("FF_AUTO", lambda norm: ud.tensors(norm)[2:], ud.classes)}
    if len(cfg.datasets) != len(cfg.ff_presets):
        from implicitbias.errors import UserInputError

        raise UserInputError("datasets and ff_presets must have the same length")
    return {ds: (p, lambda norm, ds=ds: load_dataset(ds, "test", None, norm), dataset_info(ds).classes)
            for ds, p in zip(cfg.datasets, cfg.ff_presets, strict=True)}


def _fmt(v: float, digits: int = 3) -> str:
    return "nan" if v != v else f"{v:.{digits}f}"


def run(cfg: Config, run_dir: RunDir, progress: Progress | None = None) -> ExperimentResult:
    """Train, analyse, compare with the paper; figures and ``ff_analysis.json`` into ``run_dir``."""
    from implicitbias.ff import train_run

    data = _datasets(cfg)
    t0 = time.perf_counter()
    prog = progress or no_progress
    root = Path(cfg.runs_root) if cfg.runs_root else run_dir.path.parent.parent
    opts = AnalysisOptions(samples=cfg.samples, k=cfg.k, n_id=cfg.n_id, stat_test=cfg.stat_test)
    zs = 0 <= cfg.zero_shot_class < min(len(names) for _, _, names in data.values())
    total = len(data) * (len(ALGOS) * cfg.seeds + (len(cfg.zero_shot_algos) * cfg.zero_shot_seeds if zs else 0))
    done = 0
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    zero: dict[str, dict[str, list[dict[str, Any]]]] = {}
    sims: dict[str, np.ndarray] = {}
    for ds, (preset, test_set, _) in data.items():
        results[ds] = {a: [] for a in ALGOS}
        for algo in ALGOS:
            for seed in range(cfg.seeds):
                prog(done, total, f"{ds} {NAMES[algo]} seed {seed}")
                rd = train_run(_ff_config(cfg, preset, algo, seed), out_root=root, device=cfg.device)
                results[ds][algo].append(analyze_run(rd.path, opts))
                done += 1
        base = get_run_config(results[ds]["ff"][0])
        x_te, y_te = test_set(base.get("normalization", "paper"))
        sims[ds] = input_similarity(x_te, y_te)
        zero[ds] = {a: [] for a in cfg.zero_shot_algos}
        if zs:
            for algo in cfg.zero_shot_algos:
                for seed in range(cfg.zero_shot_seeds):
                    prog(done, total, f"{ds} {NAMES[algo]} zero-shot (class {cfg.zero_shot_class} held out) seed {seed}")
                    rd = train_run(_ff_config(cfg, preset, algo, seed, (cfg.zero_shot_class,)), out_root=root, device=cfg.device)
                    reps = load_representations(rd.path)
                    row = {"seed": seed, "test_acc_seen": rd.read_json("summary").get("test_acc_seen"), "layers": []}
                    for li in range(reps.num_layers):
                        st = {c: zero_shot_stats(reps.layers[c][li], reps.labels, cfg.zero_shot_class, cfg.k, seed)
                              for c in (("true", "neutral") if reps.label_conditioned else ("true",))}
                        for v in st.values():
                            v["forms"] = zero_shot_forms(v)
                        row["layers"].append(st)
                    zero[ds][algo].append(row)
                    done += 1
    prog(done, total, "figures")
    names = {ds: tuple(n) for ds, (_, _, n) in data.items()}
    run_dir.save_arrays({f"profile/{ds}": torch.as_tensor(np.asarray(R["ff"][0]["layers"][0]["_profile"], dtype=np.float64))
                         for ds, R in results.items()}, name="profiles")
    claims, table = _claims(cfg, results, zero, sims, names)
    run_dir.write_json("ff_analysis", {
        "runs": {ds: {a: [to_json(r) for r in rs] for a, rs in d.items()} for ds, d in results.items()},
        "zero_shot": zero, "table": table, "class_names": {ds: list(n) for ds, n in names.items()},
    })
    metrics: dict[str, Any] = {"table": table}
    for algo in ALGOS:  # pooled over datasets, one value per (dataset, seed)
        metrics[f"test_acc.{algo}"] = [float(r["test_acc"]) for R in results.values() for r in R[algo]]
        metrics[f"hoyer_layer1.{algo}"] = [float(v) for R in results.values() for v in seed_values(R[algo], 1, "hoyer", "mean")]
    return ExperimentResult(experiment=ID, claims=claims, metrics=metrics, figures=[],
                            wall_time_s=time.perf_counter() - t0)


METRICS = tuple(
    m for algo in ALGOS for m in (
        Metric(f"test_acc.{algo}", "1", f"{NAMES[algo]} test accuracy (mean over datasets × seeds)"),
        Metric(f"hoyer_layer1.{algo}", "1", f"{NAMES[algo]} layer-1 Hoyer sparseness (mean over datasets × seeds)"),
    )
)


def get_run_config(res: dict[str, Any]) -> dict[str, Any]:
    """The FF-engine config of an analysed run (from its ``config.json``)."""
    import json

    p = Path(res["run"]) / "config.json"
    rec = json.loads(p.read_text()) if p.exists() else {}
    return rec.get("config", rec)


def _claims(
    cfg: Config,
    results: dict[str, dict[str, list[dict[str, Any]]]],
    zero: dict[str, dict[str, list[dict[str, Any]]]],
    sims: dict[str, np.ndarray],
    class_names: dict[str, tuple[str, ...]],
) -> tuple[list[Claim], list[dict[str, Any]]]:
    table = layer_table(results, cfg.k, PAPER_HOYER, with_id=cfg.n_id > 0)
    claims: list[Claim] = []

    def add(claim: str, paper: str, seed0: str, msd: str, ok: bool | None, note: str = "") -> None:
        verdict = "info" if ok is None else ("reproduced" if ok else "differs")
        claims.append(Claim(ID, claim, paper, seed0, msd, verdict, note))  # type: ignore[arg-type]

    for ds, R in results.items():
        ff, bpff, bp = R["ff"], R["bpff"], R["bp"]
        shorten = any(getattr(cfg, f"{a}_epochs") for a in ALGOS)
        sched = f"{cfg.ff_epochs}/{cfg.bpff_epochs}/{cfg.bp_epochs} epochs (FF per layer) vs paper 1200|100/300/80" if shorten else ""
        for algo in ALGOS:
            acc = np.array([float(r["test_acc"]) for r in R[algo]])
            lo_hi = PAPER_ACC.get(ds, {}).get(algo)
            add(f"{ds} {NAMES[algo]} test accuracy", f"{lo_hi[0]:.4f}–{lo_hi[1]:.4f}" if lo_hi else "no paper number",
                _fmt(acc[0], 4), mean_sd(acc), (lo_hi[0] <= acc.mean() <= lo_hi[1]) if lo_hi else None, sched)
            for li in range(1, len(R[algo][0]["layers"]) + 1):
                h = seed_values(R[algo], li, "hoyer", "mean")
                rng = PAPER_HOYER.get(ds, {}).get(algo)
                rng_l = rng[li - 1] if rng and li <= len(rng) else None
                add(f"{ds} {NAMES[algo]} layer-{li} Hoyer", f"{rng_l[0]}–{rng_l[1]}" if rng_l else "no paper number",
                    _fmt(h[0]), mean_sd(h, "{:.3f}"), (rng_l[0] <= h.mean() <= rng_l[1]) if rng_l else None,
                    "correctly classified test samples, true label" + (f"; {sched}" if sched else ""))
        h_ff, h_bpff, h_bp = (seed_values(x, 1, "hoyer", "mean") for x in (ff, bpff, bp))
        d1, d2 = h_ff - h_bp, h_bpff - h_bp
        p1 = PAPER_L1.get(ds)
        add(f"(1) {ds}: FF layer 1 sparser than BP", f"FF {p1[0]} vs BP {p1[2]}" if p1 else "FF > BP (MNIST 0.845 vs 0.495)",
            f"FF {_fmt(h_ff[0])} vs BP {_fmt(h_bp[0])}", "Δ " + mean_sd(d1, "{:.3f}"), bool(np.all(d1 > 0)),
            f"paired by seed; min Δ = {_fmt(d1.min())}; pass = Δ > 0 on every seed")
        add(f"(2) {ds}: BP/FF also sparse (layer 1 above BP)", f"BP/FF {p1[1]} vs BP {p1[2]}" if p1 else "BP/FF > BP (MNIST 0.937 vs 0.495)",
            f"BP/FF {_fmt(h_bpff[0])} vs BP {_fmt(h_bp[0])}", "Δ " + mean_sd(d2, "{:.3f}"), bool(np.all(d2 > 0)),
            f"min Δ = {_fmt(d2.min())}; pass = Δ > 0 on every seed")
        for cond in ("true", "neutral"):
            L1 = [r["layers"][0] for r in ff]
            if cond == "true":
                ex = np.array([x["controls"]["true"]["exclusive_frac"] if "controls" in x else np.nan for x in L1], float)
                sh = np.array([x["controls"]["true"]["split_half_jaccard"] if "controls" in x else np.nan for x in L1], float)
            else:
                ex = np.array([x["controls"]["neutral"]["exclusive_frac"] for x in L1], float)
                sh = np.array([x["controls"]["neutral"]["split_half_jaccard"] for x in L1], float)
            null_sh = np.array([x["shuffled_null"]["split_half_jaccard"] for x in L1], float)
            ok = bool(np.all(ex >= 0.8) and np.all(sh >= 0.5))
            extra = ""
            if cond == "neutral":
                jv = np.array([x["controls"]["neutral"]["mean_jaccard_vs_reference"] for x in L1], float)
                extra = f"; Jaccard(neutral vs true ensembles) {mean_sd(jv, '{:.2f}')}"
            else:
                cs = cross_seed_stability(ff, 1, cfg.k)
                extra = f"; cross-seed matched Jaccard {mean_sd(cs, '{:.2f}') if cs else 'n/a'}"
            add(f"(3) {ds}: FF layer-1 ensembles category-specific ({cond} label)",
                "ensembles per class, overlaps only among similar classes",
                f"exclusive {_fmt(ex[0], 2)}, split-half J {_fmt(sh[0], 2)}",
                f"exclusive {mean_sd(ex, '{:.2f}')}; split-half J {mean_sd(sh, '{:.2f}')}", ok,
                f"pass = exclusive ≥ 0.8 and split-half J ≥ 0.5 on every seed; shuffled-label null split-half J "
                f"{mean_sd(null_sh, '{:.2f}')}{extra}")
        rho = np.array([overlap_similarity_rho(r["layers"][0]["_members"], sims[ds]) for r in ff])
        add(f"(4) {ds}: FF layer-1 overlaps follow visual similarity", "overlaps among similar classes only (F-MNIST)",
            f"ρ {_fmt(rho[0], 2)}", "ρ " + mean_sd(rho, "{:.2f}"), bool(np.all(rho > 0) and np.nanmean(rho) >= 0.3),
            "Spearman ρ(Jaccard, cosine similarity of centred class-mean images) over class pairs; "
            "pass = ρ > 0 on every seed and mean ≥ 0.3")
        if ds == "fashion-mnist":
            g = np.array([group_overlap_fraction(r["layers"][0]["_members"], FMNIST_UPPER_BODY) for r in ff])
            add(f"{ds}: share of FF layer-1 overlap within T-shirt/Pullover/Coat/Shirt", "1.0 (all 16 shared units)",
                _fmt(g[0], 2), mean_sd(g, "{:.2f}"), bool(np.nanmean(g) >= 0.9), "pass = mean ≥ 0.9")
            fr = np.array([np.mean(r["layers"][0]["ensemble_sizes"]) / r["layers"][0]["width"] for r in ff])
            add(f"{ds}: FF layer-1 ensemble size (fraction of units, class mean)", "0.022–0.091 (22–91 of 1000)",
                _fmt(fr[0]), mean_sd(fr, "{:.3f}"), bool(0.022 <= fr.mean() <= 0.091), "k = 1 LOO rule")
        zs = zero.get(ds, {}).get("ff", [])
        if zs:
            forms = [z["layers"][0]["true"]["forms"] for z in zs]
            z0 = zs[0]["layers"][0]["true"]
            nb = [z["layers"][0].get("neutral", {}).get("forms") for z in zs]
            bpz = [z["layers"][0]["true"]["forms"] for z in zero[ds].get("bp", [])]
            add(f"(5) {ds}: zero-shot FF layer-1 ensemble forms (class {cfg.zero_shot_class} held out)",
                "unseen classes get ensembles (v4, protocol unknown)",
                f"|E| {z0['size']}, split-half J {_fmt(z0['split_half_jaccard'], 2)}, max J seen {_fmt(z0['max_jaccard_seen'], 2)}",
                f"forms on {sum(forms)}/{len(forms)} seeds", bool(all(forms)),
                f"pass = forms on every seed; neutral-label variant forms on {sum(bool(b) for b in nb)}/{len(nb)}; "
                f"recall of nearest-ensemble rule {_fmt(z0['nearest_ensemble_recall'], 2)}"
                + (f"; BP forms on {sum(bpz)}/{len(bpz)}" if bpz else ""))
        else:
            add(f"(5) {ds}: zero-shot ensembles form", "unseen classes get ensembles", "", "", None, "zero_shot_class < 0")
    return claims, table


def figures(result: ExperimentResult, run_dir: RunDir) -> list[str]:
    """Per dataset: activation walls (seed 0, layer 1, units grouped by preferred class),
    per-class Hoyer, FF overlap heatmap and class-mean profiles, sparsity vs accuracy.

    Reads ``ff_analysis.json`` and ``profiles.safetensors`` of this run and the seed-0
    representations of the FF-engine runs it lists.
    """
    from implicitbias.data import dataset_info
    from implicitbias.viz import representations as F

    rec = run_dir.config_record()["config"]
    k, samples = float(rec.get("k", 1.0)), rec.get("samples", "correct")
    analysis = run_dir.read_json("ff_analysis")
    profiles = run_dir.load_arrays("profiles")
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
    return [str(p.relative_to(run_dir.path)) for p in out]
