"""Run a list of configs of one experiment on an executor and summarise its declared metrics.

Each task is :func:`~implicitbias.experiments.runner.execute_experiment` (a module-level
function, so process pools and Dask pickle it by reference); completed runs are reused, so
a sweep is idempotent. Every run contributes one row of its experiment's declared
``METRICS`` (per-chain values averaged over chains, see
:func:`~implicitbias.experiments.base.metric_values`); :func:`summary_table` aggregates the
rows over seeds per grid point (mean, sd, n) and :func:`write_sweep` writes
``sweep_summary.csv`` plus ``sweep_metrics.csv`` (name, unit, description of each column).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from implicitbias.experiments.base import Metric
from implicitbias.experiments.registry import get_experiment
from implicitbias.experiments.runner import declared_metrics, execute_experiment
from implicitbias.runs.executors import Executor
from implicitbias.runs.rundir import RunDir
from implicitbias.runs.sweep import summarise, write_summary_csv

__all__ = ["SweepOutcome", "run_sweep", "metric_spec", "summary_table", "write_sweep"]


@dataclass
class SweepOutcome:
    """Statuses, per-run (grid point, declared metric values) rows, and failures."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[Mapping[str, str], Mapping[str, float]]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(s["status"] for s in self.statuses))


def run_sweep(
    experiment: str,
    configs: Sequence[tuple[Mapping[str, str], dict[str, Any]]],
    out_root: str,
    executor: Executor,
    *,
    preset: str = "",
    retry_failed: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> SweepOutcome:
    """Run every config (skipping completed runs) and gather metrics from run directories."""
    tasks = [
        (execute_experiment, {"experiment_id": experiment, "config": cfg, "out_root": out_root,
                              "preset": preset, "retry_failed": retry_failed})
        for _, cfg in configs
    ]
    outcome = SweepOutcome()
    for i, res in executor.map_unordered(tasks):
        if isinstance(res, BaseException):
            res = {"experiment": experiment, "path": None, "status": "failed",
                   "error": f"{type(res).__name__}: {res}"}
        res["point"] = dict(configs[i][0])
        outcome.statuses.append(res)
        if on_result:
            on_result(res)
        if res["status"] in ("failed", "locked"):  # locked: another process is writing that run
            outcome.failed.append(res)
            continue
        run = RunDir(Path(res["path"]), experiment)
        outcome.rows.append((configs[i][0], run.summary().get("metrics", {})))
    return outcome


def metric_spec(experiment: str) -> tuple[Metric, ...]:
    """The declared metrics of ``experiment`` (empty for an undeclared user experiment)."""
    return tuple(declared_metrics(get_experiment(experiment)) or ())


def summary_table(experiment: str, outcome: SweepOutcome) -> list[dict[str, Any]]:
    """Per grid point: ``n`` runs and ``<metric>_mean`` / ``<metric>_sd`` of every metric.

    Declared metrics come first in declaration order; a user experiment without a
    declaration summarises its top-level numbers.
    """
    table = summarise(outcome.rows)
    order = [m.name for m in metric_spec(experiment)]
    if not order:
        return table
    out = []
    for row in table:
        head = {k: v for k, v in row.items() if not (k.endswith("_mean") or k.endswith("_sd"))}
        for name in order:
            for suffix in ("_mean", "_sd"):
                if name + suffix in row:
                    head[name + suffix] = row[name + suffix]
        out.append(head)
    return out


def write_sweep(experiment: str, table: Sequence[Mapping[str, Any]], folder: str | Path) -> tuple[Path, Path]:
    """Write ``sweep_summary.csv`` and ``sweep_metrics.csv`` (name, unit, description) into ``folder``."""
    folder = Path(folder)
    summary = write_summary_csv(table, folder / "sweep_summary.csv")
    spec = folder / "sweep_metrics.csv"
    with spec.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "unit", "description"])
        for m in metric_spec(experiment):
            w.writerow([m.name, m.unit, m.description])
    return summary, spec
