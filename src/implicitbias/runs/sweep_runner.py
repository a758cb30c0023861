"""Run a list of experiment configs on an executor and collect their metrics.

The task function is passed by dotted path so that this module does not import the
experiments layer (``runs`` sits below ``experiments``).
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from implicitbias.runs.executors import Executor
from implicitbias.runs.rundir import RunDir

__all__ = ["SweepOutcome", "run_sweep"]

DEFAULT_TASK = "implicitbias.experiments.runner:execute_experiment"


@dataclass
class SweepOutcome:
    """Statuses, per-run (grid point, scalar metrics) rows, and failures."""

    statuses: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[Mapping[str, str], Mapping[str, float]]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(s["status"] for s in self.statuses))


def _task_fn(path: str) -> Callable[..., dict[str, Any]]:
    mod, name = path.split(":")
    return getattr(importlib.import_module(mod), name)


def run_sweep(
    experiment: str,
    configs: Sequence[tuple[Mapping[str, str], dict[str, Any]]],
    out_root: str,
    executor: Executor,
    *,
    preset: str = "",
    retry_failed: bool = False,
    task: str = DEFAULT_TASK,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> SweepOutcome:
    """Run every config (skipping completed runs) and gather metrics from run directories."""
    fn = _task_fn(task)
    tasks = [
        (fn, {"experiment_id": experiment, "config": cfg, "out_root": out_root,
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
