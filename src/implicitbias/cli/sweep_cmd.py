"""``implicitbias sweep EXPERIMENT --grid k=v1,v2 --seeds 0-9`` — idempotent sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from implicitbias.cli import app
from implicitbias.cli._progress import console, progress_bar
from implicitbias.config import to_dict
from implicitbias.errors import UserInputError
from implicitbias.experiments.runner import resolve_config
from implicitbias.experiments.sweep import metric_spec, run_sweep, summary_table, write_sweep
from implicitbias.runs.executors import ClusterConfig, make_executor
from implicitbias.runs.rundir import check_out_dir
from implicitbias.runs.sweep import expand_grid, parse_grid, parse_seeds


def _cluster_config(path: Path) -> ClusterConfig:
    """Read ``--cluster-config`` (JSON with :class:`ClusterConfig` fields)."""
    from implicitbias.config import from_dict

    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserInputError(f"--cluster-config {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise UserInputError(f"--cluster-config {path}: not a readable JSON file ({type(e).__name__})") from None
    return from_dict(ClusterConfig, data)


@app.command("sweep")
def sweep_command(
    experiment: str = typer.Argument(..., help="experiment id"),
    grid: list[str] = typer.Option([], "--grid", help="key=v1,v2,... (repeatable)"),
    seeds: str | None = typer.Option(None, "--seeds", help="seed range 0-9 or list 0,3,5"),
    preset: str = typer.Option("quick", "--preset"),
    sets: list[str] = typer.Option([], "--set", help="fixed override key=value"),
    out: Path = typer.Option(Path("runs"), "--out", help="runs root folder"),
    executor: str = typer.Option("local", "--executor", help="local or dask"),
    workers: int = typer.Option(2, "--workers", min=1),
    dask_address: str | None = typer.Option(None, "--dask-address", help="tcp://HOST:PORT of a running scheduler"),
    dask_cluster: str | None = typer.Option(None, "--dask-cluster", help="slurm (dask-jobqueue)"),
    cluster_config: Path | None = typer.Option(None, "--cluster-config", help="JSON file with ClusterConfig fields"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="rerun runs that failed before"),
) -> None:
    """Expand the grid × seeds, run each config once (completed runs are skipped), summarise."""
    base = resolve_config(experiment, preset, sets)
    configs = expand_grid(base, parse_grid(grid), parse_seeds(seeds) if seeds else None)
    check_out_dir(out)
    cc = _cluster_config(cluster_config) if cluster_config else None
    ex = make_executor(executor, workers=workers, address=dask_address, cluster=dask_cluster, cluster_config=cc)
    try:
        with progress_bar() as p:
            bar = p.add_task(experiment, total=len(configs), message="")
            outcome = run_sweep(
                experiment, [(pt, to_dict(c)) for pt, c in configs], str(out), ex,
                preset=preset, retry_failed=retry_failed,
                on_result=lambda st: p.update(bar, advance=1, message=st["status"]),
            )
    finally:
        ex.close()
    table = summary_table(experiment, outcome)
    csv_path, _ = write_sweep(experiment, table, Path(out) / experiment)
    units = {m.name: m.unit for m in metric_spec(experiment)}
    # one row per metric, one column per grid point (wide grids stay readable)
    t = Table(title=f"sweep {experiment}: {outcome.counts}")
    t.add_column("metric")
    t.add_column("unit")
    points = [{k: v for k, v in row.items() if k != "n" and not k.endswith(("_mean", "_sd"))} for row in table]
    for pt, row in zip(points, table, strict=True):
        t.add_column((", ".join(f"{k}={v}" for k, v in pt.items()) or "all") + f" (n={row['n']})")
    names = list(dict.fromkeys(k[: -len("_mean")] for row in table for k in row if k.endswith("_mean")))
    for name in names:
        cells = [f"{row[name + '_mean']:.4g} ± {row.get(name + '_sd', 0.0):.2g}" if name + "_mean" in row else ""
                 for row in table]
        t.add_row(name, units.get(name, ""), *cells)
    console.print(t)
    console.print(f"summary: {csv_path}")
    for f in outcome.failed:
        console.print(f"[red]failed[/] {f['path']}: {f['error']}")
    if outcome.failed:
        console.print("rerun with --retry-failed to retry the failed runs (locked runs: when their writer is done)")
        raise typer.Exit(1)
