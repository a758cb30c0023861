"""Run one registered experiment into its run directory (the unit of work of every executor).

:func:`execute_experiment` is a plain module-level function taking JSON-safe arguments, so
it can be shipped to a process pool or a Dask worker; results travel back as run
directories on a shared filesystem (plus a small JSON-safe status dict), never as pickled
tensors.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import time
import traceback
from pathlib import Path
from typing import Any

from implicitbias.config import from_dict, override, to_dict
from implicitbias.errors import Diverged, RunLockedError, UserInputError
from implicitbias.experiments.base import (
    Experiment,
    ExperimentResult,
    ProgressFn,
    metric_values,
    no_progress,
)
from implicitbias.experiments.registry import get_experiment
from implicitbias.runs import RunDir, atomic_write_json

log = logging.getLogger(__name__)

__all__ = [
    "resolve_config",
    "execute_experiment",
    "load_result",
    "rerun_command",
    "check_finite_metrics",
    "draw_figures",
    "redraw",
    "declared_metrics",
]

FAILED = "failed.json"


def resolve_config(
    experiment_id: str,
    preset: str = "quick",
    overrides: list[str] | tuple[str, ...] = (),
    seeds: int | None = None,
) -> Any:
    """The config of ``experiment_id``: its preset (``full`` falls back to ``paper``),
    then ``--seeds`` and ``--set key=value`` overrides."""
    mod = get_experiment(experiment_id)
    presets: dict[str, Any] = mod.PRESETS
    name = preset
    if name not in presets:
        fallback = {"full": "paper", "cpu": "paper", "paper": "full"}.get(name)
        if fallback in presets:
            name = fallback
        else:
            raise UserInputError(
                f"experiment {experiment_id!r} has no preset {preset!r} (have: {', '.join(presets)})"
            )
    cfg = presets[name]
    extra = list(overrides)
    if seeds is not None:
        fields = to_dict(cfg)
        if "seeds" in fields:
            extra.insert(0, f"seeds={seeds}")
        else:
            raise UserInputError(f"experiment {experiment_id!r} has no 'seeds' setting")
    return override(cfg, extra) if extra else cfg


def rerun_command(experiment_id: str, preset: str, config: Any) -> str:
    """The ``implicitbias run`` command line that reproduces ``config`` from ``preset``."""
    mod = get_experiment(experiment_id)
    base = to_dict(mod.PRESETS.get(preset, config))
    cur = to_dict(config)
    sets = [f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in cur.items() if base.get(k) != v]
    cmd = ["implicitbias", "run", experiment_id, "--preset", preset]
    for s in sets:
        cmd += ["--set", s]
    return shlex.join(cmd)


def load_result(run: RunDir) -> ExperimentResult:
    """The stored :class:`ExperimentResult` of a completed run."""
    return ExperimentResult.from_dict(run.read_json("result"))


def declared_metrics(mod: Experiment) -> tuple | None:
    """The experiment's ``METRICS`` declaration, or ``None`` for an undeclared user experiment."""
    return getattr(mod, "METRICS", None)


def draw_figures(mod: Experiment, result: ExperimentResult, run: RunDir) -> list[str]:
    """Call the experiment's ``figures(result, run)`` when it has one (else keep ``result.figures``)."""
    fn = getattr(mod, "figures", None)
    if fn is None:
        return list(result.figures)
    return [str(f) for f in fn(result, run)]


def redraw(run_dir: str | Path) -> list[str]:
    """Redraw the figures of a completed run directory from its stored result and arrays."""
    path = Path(run_dir)
    if not (path / "config.json").exists():
        raise UserInputError(f"{path} is not a run directory (no config.json)")
    exp = json.loads((path / "config.json").read_text()).get("experiment", path.parent.name)
    run = RunDir(path=path, experiment=exp)
    if not (path / "result.json").exists():
        raise UserInputError(f"{path} holds no completed result (no result.json)")
    return draw_figures(get_experiment(exp), load_result(run), run)


def execute_experiment(
    experiment_id: str,
    config: dict[str, Any],
    out_root: str,
    *,
    preset: str = "",
    force: bool = False,
    retry_failed: bool = True,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run ``experiment_id`` with ``config`` (a dict) under ``out_root``.

    Completed runs are reused (status ``"cached"``). A run that raises leaves
    ``failed.json`` (error + traceback) in its directory and returns status ``"failed"``;
    with ``retry_failed=False`` such a run is skipped (status ``"failed"`` again).

    Returns:
        ``{"experiment", "path", "status": "done"|"cached"|"failed"|"locked", "error", "wall_time_s"}``;
        ``"locked"``: another process holds the run directory's lock (nothing was run);
        ``"done"`` also carries ``diverged_chains`` (chains excluded by the experiment).
        A :class:`~implicitbias.errors.Diverged` error or a non-finite metric makes the run
        ``"failed"``; it is never marked complete.
    """
    mod = get_experiment(experiment_id)
    cfg = from_dict(mod.Config, config)
    try:
        run = RunDir.open(out_root, experiment_id, cfg, force=force, lock=True)
    except RunLockedError as e:
        log.warning("%s", e)
        return {"experiment": experiment_id, "path": None, "status": "locked", "error": str(e), "wall_time_s": None}
    with run:
        return _execute(mod, experiment_id, cfg, config, run, preset, retry_failed, progress)


def _execute(mod: Any, experiment_id: str, cfg: Any, config: dict[str, Any], run: RunDir, preset: str,
             retry_failed: bool, progress: ProgressFn | None) -> dict[str, Any]:
    """The body of :func:`execute_experiment` (the run directory is open and locked)."""
    status: dict[str, Any] = {"experiment": experiment_id, "path": str(run.path), "error": None}
    if run.is_complete:
        return {**status, "status": "cached", "wall_time_s": run.summary().get("wall_time_s")}
    failed = run.path / FAILED
    if failed.exists() and not retry_failed:
        try:
            err = json.loads(failed.read_text()).get("error")
        except (OSError, ValueError, AttributeError):
            err = "failed before (unreadable failed.json)"
        return {**status, "status": "failed", "error": err, "wall_time_s": None}
    run.write_env(seed=config.get("seed"), device=config.get("device"))
    t0 = time.perf_counter()
    try:
        result: ExperimentResult = mod.run(cfg, run, progress or no_progress)
        check_finite_metrics(experiment_id, result)
        result.figures = draw_figures(mod, result, run)
    except Exception as e:  # noqa: BLE001 - recorded, reported, retried on demand
        msg = f"{type(e).__name__}: {e}"
        if isinstance(e, Diverged):
            msg = f"Diverged: {e}" if str(e).startswith(experiment_id) else f"Diverged: {experiment_id}: {e}"
            log.info("%s", msg)
        else:
            log.exception("experiment %s failed", experiment_id)
        atomic_write_json(failed, {"error": msg, "traceback": traceback.format_exc()})
        return {**status, "status": "failed", "error": msg, "wall_time_s": None}
    wall = time.perf_counter() - t0
    result.wall_time_s = wall
    result.command = rerun_command(experiment_id, preset, cfg) if preset else ""
    run.write_json("result", result.to_dict())
    failed.unlink(missing_ok=True)
    diverged = result.metrics.get("diverged_chains") or []
    if diverged:
        log.warning("%s: chains %s diverged and were excluded", experiment_id, diverged)
    run.mark_complete({"wall_time_s": wall, "metrics": metric_values(result.metrics, declared_metrics(mod))})
    return {**status, "status": "done", "wall_time_s": wall, "diverged_chains": diverged}


def check_finite_metrics(experiment_id: str, result: ExperimentResult) -> None:
    """Raise :class:`Diverged` if a declared scalar metric is NaN / inf.

    The metrics checked are the experiment's declared ``METRICS`` (per-chain lists averaged
    over the finite chains, :func:`~implicitbias.experiments.base.metric_values`; without a
    declaration, every top-level number). The module may list names allowed to be non-finite
    in ``NONFINITE_METRICS`` (e.g. a statistic undefined for some settings). Nested
    diagnostics (e.g. a two-sample noise floor with no split-half estimate) are not checked.
    This is the safety net behind the loops' own checks: a run whose results are NaN is never
    marked complete.
    """
    mod = get_experiment(experiment_id)
    allowed = set(getattr(mod, "NONFINITE_METRICS", ()))
    values = metric_values(result.metrics, declared_metrics(mod))
    bad = [k for k, v in values.items() if k not in allowed and not math.isfinite(v)]
    if bad:
        raise Diverged(experiment_id, None, what="metric(s) " + ", ".join(bad[:6]))
