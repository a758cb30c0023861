"""``implicitbias reproduce`` — every registered experiment into one HTML report."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from implicitbias.cli import app
from implicitbias.cli._progress import console, progress_bar, task_callback
from implicitbias.cli.run_cmd import print_claims
from implicitbias.config import to_dict
from implicitbias.errors import UserInputError
from implicitbias.experiments import experiment_ids, get_experiment
from implicitbias.experiments.runner import (
    declared_metrics,
    execute_experiment,
    load_result,
    resolve_config,
)
from implicitbias.report.html import ReportEntry, build_report
from implicitbias.runs import RunDir, environment_info
from implicitbias.runs.executors import check_address, make_executor
from implicitbias.runs.rundir import check_out_dir

PRESETS = ("quick", "paper", "full")


def auto_workers(n_tasks: int) -> int:
    """One worker process per available CPU core (at most 4, at most one per task).

    The experiments are independent and each runs its tight loop on one thread, so on a
    2-core machine two of them advance side by side.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4, n_tasks))


@app.command("reproduce")
def reproduce_command(
    preset: str = typer.Option("quick", "--preset", help="quick (minutes on a CPU), paper, or full"),
    only: str = typer.Option("", "--only", help="comma-separated experiment ids"),
    out: Path | None = typer.Option(None, "--out", help="report folder (default reports/<preset>)"),
    executor: str = typer.Option("local", "--executor", help="local or dask"),
    workers: int = typer.Option(0, "--workers", min=0, help="parallel workers (local: processes; 0 = one per CPU core, at most 4)"),
    dask_address: str | None = typer.Option(None, "--dask-address", help="existing scheduler tcp://HOST:PORT"),
    force: bool = typer.Option(False, "--force", help="rerun completed experiments"),
) -> None:
    """Run every experiment and validation of both papers and write DIR/index.html.

    Interrupt and rerun to resume: completed experiments are reused from DIR/runs.
    """
    if preset not in PRESETS:
        raise UserInputError(f"--preset must be one of {', '.join(PRESETS)}")
    ids = experiment_ids()
    if only:
        wanted = [s.strip() for s in only.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in ids]
        if unknown:
            raise UserInputError(f"unknown experiment(s) in --only: {', '.join(unknown)} (known: {', '.join(ids)})")
        ids = [i for i in ids if i in wanted]
    if not ids:
        raise UserInputError("no experiments to run")
    if workers < 0:
        raise UserInputError("--workers must be >= 0 (0 = one per CPU core)")
    workers = workers or auto_workers(len(ids))
    out = out or Path("reports") / preset
    check_out_dir(out)
    if dask_address is not None:
        check_address(dask_address)
    runs_root = out / "runs"
    configs = {i: resolve_config(i, preset) for i in ids}
    t0 = time.perf_counter()
    statuses: dict[str, dict] = {}
    if executor == "local" and workers <= 1:
        with progress_bar() as p:
            for i in ids:
                statuses[i] = execute_experiment(
                    i, to_dict(configs[i]), str(runs_root), preset=preset, force=force,
                    progress=task_callback(p, i),
                )
    else:
        ex = make_executor(executor, workers=workers, address=dask_address)
        tasks = [
            (execute_experiment, {"experiment_id": i, "config": to_dict(configs[i]),
                                  "out_root": str(runs_root), "preset": preset, "force": force})
            for i in ids
        ]
        try:
            with progress_bar() as p:
                bar = p.add_task("experiments", total=len(ids), message="")
                for k, res in ex.map_unordered(tasks):
                    i = ids[k]
                    if isinstance(res, BaseException):
                        res = {"experiment": i, "path": None, "status": "failed", "error": f"{type(res).__name__}: {res}"}
                    statuses[i] = res
                    p.update(bar, advance=1, message=f"{i}: {res['status']}")
        finally:
            ex.close()
    entries = []
    for i in ids:
        st = statuses[i]
        title = get_experiment(i).TITLE
        if st["status"] == "failed" or not st.get("path"):
            entries.append(ReportEntry(i, title, None, None, st.get("error")))
            continue
        run = RunDir(Path(st["path"]), i)
        entries.append(ReportEntry(i, title, load_result(run), run.path, metrics=declared_metrics(get_experiment(i))))
    index = build_report(entries, out, preset=preset, env=environment_info())
    claims = [c.to_dict() for e in entries if e.result for c in e.result.claims]
    claims += [{"experiment": e.experiment, "claim": e.title, "paper": "", "ours_seed0": "",
                "ours_mean_sd": "", "verdict": "not run"} for e in entries if e.result is None]
    print_claims(claims, title=f"reproduce --preset {preset}")
    console.print(f"report: {index.resolve()}  ({time.perf_counter() - t0:.0f} s)")
    failed = [e.experiment for e in entries if e.result is None]
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/]")
        raise typer.Exit(1)
