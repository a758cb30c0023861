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
   class) FF layer-1 ensemble in every zero-shot run (every held-out class × seed).

The thresholds were fixed before any run (:mod:`~implicitbias.experiments.ff.claims`); every
across-seed number is a mean with its 95 % t-interval. With ``snapshots`` every statistic is
also computed at each snapshot epoch of every run (:mod:`~implicitbias.experiments.ff.trajectory`)
and drawn against training length (``training_length_<dataset>.png``). Presets:

* ``quick``: sklearn digits, 5 seeds, 10 epochs per phase, 2 × 256 units, snapshots at 1 and
  3 epochs, every class held out once (seed 0);
* ``cpu``: MNIST + Fashion-MNIST, 5 seeds, FF 5 epochs per layer, BP/FF and BP 3 epochs, with
  the engine's ``*_quick`` settings (500 units, batch 256); snapshots at 1 and 3 epochs;
  zero-shot: each of the 10 classes held out, 3 seeds, FF at 3 epochs per layer;
* ``fmnist_long``: Fashion-MNIST at the paper's architecture and schedules for FF (100 epochs
  per layer) and BP (80), BP/FF cut to 5 epochs (its 300 are ≈ 2.5 h per seed on one CPU
  core), 3 seeds, snapshots at 1, 3, 10, 30 and 100 epochs; no zero-shot runs;
* ``paper``: the paper's schedules (reference §3.8), 5 seeds, every class held out × 3 seeds;
  ``full``: ``paper`` + CIFAR-10 (JPEG q75 copy).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from implicitbias.analysis.ff_compare import input_similarity, seed_values
from implicitbias.config import bounded
from implicitbias.errors import UserInputError
from implicitbias.experiments.base import ExperimentResult, Metric, Progress, no_progress
from implicitbias.experiments.ff.claims import (
    ALGOS,
    NAMES,
    PAPER_ACC,
    PAPER_HOYER,
    make_claims,
)
from implicitbias.experiments.ff.figures import figures
from implicitbias.experiments.ff.trajectory import algo_trajectory, zero_shot_trajectory
from implicitbias.ff.analyze_run import AnalysisOptions, analyze_run, to_json
from implicitbias.runs import RunDir

ID = "ff_representations"
TITLE = "FF and BP/FF learn sparse, category-specific ensembles; BP does not (Tosato et al.)"
__all__ = ["ID", "TITLE", "Config", "PRESETS", "METRICS", "run", "figures", "PAPER_HOYER", "PAPER_ACC"]


@dataclass(frozen=True)
class Config:
    """``ff_representations`` settings.

    Attributes:
        datasets / ff_presets: datasets and the FF-engine preset of each (same order).
        seeds: seeds per (dataset, algo).
        ff_epochs / bpff_epochs / bp_epochs: 0 = the preset's (paper) value; FF epochs are per layer.
        zero_shot_classes: classes held out of training (one run each) for claim 5 (empty: none).
        zero_shot_seeds / zero_shot_algos: seeds per held-out class; algorithms (FF decides the
            verdict, the others are controls).
        zero_shot_epochs: FF epochs per layer of the zero-shot runs (0 = ``ff_epochs``).
        snapshots: epochs (per layer for FF) at which every statistic is also computed, from
            the runs' snapshots (:mod:`implicitbias.ff.snapshots`; counts above a run's epochs
            are dropped, its final epoch is always a point).
        k: LOO ensemble parameter; samples: ``correct`` (paper) or ``all``.
        n_id: points for TwoNN (0 = skip); stat_test: also the Mann–Whitney/BH ensembles.
        device: ``auto`` | ``cpu`` | ``cuda``; runs_root: where FF runs go ("" = the runs root).
        wait_s: seconds to wait for a run another process is training (0: fail at once).
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
    zero_shot_classes: tuple[int, ...] = bounded(tuple(range(10)), ge=0, max_len=10_000)
    zero_shot_seeds: int = bounded(1, ge=0, le=1000)
    zero_shot_algos: tuple[str, ...] = ("ff",)
    zero_shot_epochs: int = bounded(0, ge=0, le=1_000_000)
    snapshots: tuple[int, ...] = bounded((1, 3), ge=1, le=1_000_000, max_len=64)
    k: float = bounded(1.0, gt=0)
    samples: str = "correct"
    n_id: int = bounded(500, ge=0)
    stat_test: bool = True
    device: str = "auto"
    runs_root: str = ""
    wait_s: float = bounded(0.0, ge=0, le=10**7)
    data: str = ""

    def validate(self) -> None:
        """Cross-field checks (called when a config is read from ``--set`` or JSON)."""
        if len(self.datasets) != len(self.ff_presets):
            raise UserInputError('datasets and ff_presets must have the same length')
        if self.samples not in ('correct', 'all'):
            raise UserInputError(f"samples must be 'correct' or 'all', got {self.samples!r}")
        bad = [a for a in self.zero_shot_algos if a not in ALGOS]
        if bad:
            raise UserInputError(f"zero_shot_algos: unknown {bad} (use {', '.join(ALGOS)})")


_CPU = Config(
    datasets=("mnist", "fashion-mnist"), ff_presets=("TOSATO_MNIST_quick", "TOSATO_FMNIST_quick"), seeds=5,
    ff_epochs=5, bpff_epochs=3, bp_epochs=3, zero_shot_seeds=3, zero_shot_epochs=3, n_id=2000,
)
_PAPER = dataclasses.replace(
    _CPU, ff_presets=("TOSATO_MNIST", "TOSATO_FMNIST"), ff_epochs=0, bpff_epochs=0, bp_epochs=0,
    zero_shot_epochs=0, snapshots=(1, 3, 10, 30, 100, 300, 1200),
)
PRESETS: dict[str, Config] = {
    "quick": Config(),
    "cpu": _CPU,
    "fmnist_long": dataclasses.replace(
        _PAPER, datasets=("fashion-mnist",), ff_presets=("TOSATO_FMNIST",), seeds=3, bpff_epochs=5,
        zero_shot_classes=(), snapshots=(1, 3, 10, 30, 100),
    ),
    "paper": _PAPER,
    "full": dataclasses.replace(
        _PAPER, datasets=(*_PAPER.datasets, "cifar10"), ff_presets=(*_PAPER.ff_presets, "TOSATO_CIFAR10")
    ),
}

def _ff_config(cfg: Config, preset: str, algo: str, seed: int, exclude: tuple[int, ...] = ()) -> Any:
    from implicitbias.ff import get_preset

    epochs = {"ff": cfg.ff_epochs, "bpff": cfg.bpff_epochs, "bp": cfg.bp_epochs}[algo]
    if exclude and algo == "ff" and cfg.zero_shot_epochs:
        epochs = cfg.zero_shot_epochs
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


def run(cfg: Config, run_dir: RunDir, progress: Progress | None = None) -> ExperimentResult:
    """Train, analyse, compare with the paper; figures, ``ff_analysis.json`` and
    ``training_length.json`` into ``run_dir``."""
    from implicitbias.ff import train_run

    data = _datasets(cfg)
    t0 = time.perf_counter()
    prog = progress or no_progress
    root = Path(cfg.runs_root) if cfg.runs_root else run_dir.path.parent.parent
    opts = AnalysisOptions(samples=cfg.samples, k=cfg.k, n_id=cfg.n_id, stat_test=cfg.stat_test, cka=False)
    n_cls = min(len(names) for _, _, names in data.values())
    held = tuple(c for c in cfg.zero_shot_classes if c < n_cls)
    total = len(data) * (len(ALGOS) * cfg.seeds + len(cfg.zero_shot_algos) * cfg.zero_shot_seeds * len(held))
    done = 0
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    zero: dict[str, dict[str, list[dict[str, Any]]]] = {}
    traj: dict[str, dict[str, Any]] = {}
    sims: dict[str, np.ndarray] = {}

    def train(ds: str, preset: str, algo: str, seed: int, exclude: tuple[int, ...] = ()) -> RunDir:
        nonlocal done
        what = f" (class {exclude[0]} held out)" if exclude else ""
        prog(done, total, f"{ds} {NAMES[algo]}{what} seed {seed}")
        done += 1
        return train_run(_ff_config(cfg, preset, algo, seed, exclude), out_root=root, device=cfg.device,
                         snapshots=cfg.snapshots, wait=cfg.wait_s)

    for ds, (preset, test_set, _) in data.items():
        results[ds], traj[ds] = {}, {}
        for a in ("bp", "bpff", "ff"):  # shortest schedules first: their runs are ready first
            paths = []
            for seed in range(cfg.seeds):  # each run is analysed as soon as it is there
                paths.append(train(ds, preset, a, seed).path)
                results[ds].setdefault(a, []).append(analyze_run(paths[-1], opts))
            if ds not in sims:
                x_te, y_te = test_set(get_run_config(results[ds][a][0]).get("normalization", "paper"))
                sims[ds] = input_similarity(x_te, y_te)
            traj[ds][a] = algo_trajectory(list(zip(map(str, paths), results[ds][a], strict=True)), sims[ds], opts, cfg.device)
        results[ds] = {a: results[ds][a] for a in ALGOS}
        zero[ds] = {}
        for algo in cfg.zero_shot_algos if held else ():
            zruns = [(str(train(ds, preset, algo, seed, (c,)).path), c, seed)
                     for c in held for seed in range(cfg.zero_shot_seeds)]
            t, zero[ds][algo] = zero_shot_trajectory(zruns, cfg.k, cfg.device)
            traj[ds]["zero_shot" if algo == "ff" else f"zero_shot_{algo}"] = t
    prog(done, total, "figures")
    names = {ds: tuple(n) for ds, (_, _, n) in data.items()}
    run_dir.save_arrays({f"profile/{ds}": torch.as_tensor(np.asarray(R["ff"][0]["layers"][0]["_profile"], dtype=np.float64))
                         for ds, R in results.items()}, name="profiles")
    claims, table = make_claims(_schedule(cfg), cfg.k, cfg.n_id > 0, results, zero, sims)
    run_dir.write_json("ff_analysis", {
        "runs": {ds: {a: [to_json(r) for r in rs] for a, rs in d.items()} for ds, d in results.items()},
        "zero_shot": to_json(zero), "table": table, "class_names": {ds: list(n) for ds, n in names.items()},
    })
    run_dir.write_json("training_length", to_json(traj))
    metrics: dict[str, Any] = {"table": table}
    for algo in ALGOS:  # pooled over datasets, one value per (dataset, seed)
        metrics[f"test_acc.{algo}"] = [float(r["test_acc"]) for R in results.values() for r in R[algo]]
        metrics[f"hoyer_layer1.{algo}"] = [float(v) for R in results.values() for v in seed_values(R[algo], 1, "hoyer", "mean")]
    return ExperimentResult(experiment=ID, claims=claims, metrics=metrics, figures=[],
                            wall_time_s=time.perf_counter() - t0)


def _schedule(cfg: Config) -> str:
    """Text naming a shortened schedule ("" when every algorithm runs the preset's epochs)."""
    if cfg.data or not any((cfg.ff_epochs, cfg.bpff_epochs, cfg.bp_epochs)):
        return ""
    e = [str(v) if v else "paper" for v in (cfg.ff_epochs, cfg.bpff_epochs, cfg.bp_epochs)]
    return f"{e[0]}/{e[1]}/{e[2]} epochs (FF per layer) vs paper 1200|100/300/80"


def get_run_config(res: dict[str, Any]) -> dict[str, Any]:
    """The FF-engine config of an analysed run (from its ``config.json``)."""
    import json

    p = Path(res["run"]) / "config.json"
    rec = json.loads(p.read_text()) if p.exists() else {}
    return rec.get("config", rec)


METRICS = tuple(
    m for algo in ALGOS for m in (
        Metric(f"test_acc.{algo}", "1", f"{NAMES[algo]} test accuracy (mean over datasets × seeds)"),
        Metric(f"hoyer_layer1.{algo}", "1", f"{NAMES[algo]} layer-1 Hoyer sparseness (mean over datasets × seeds)"),
    )
)
