"""``implicitbias run EXPERIMENT`` — one registered experiment into a run directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from implicitbias.cli import app
from implicitbias.cli._progress import console, progress_bar, task_callback
from implicitbias.config import to_dict
from implicitbias.errors import RunLockedError, UserInputError
from implicitbias.experiments import experiment_ids, get_experiment
from implicitbias.experiments.runner import execute_experiment, load_result, resolve_config
from implicitbias.runs import RunDir
from implicitbias.runs.rundir import check_out_dir


def print_claims(claims: list, title: str = "claims") -> None:
    """Print claims as a rich table."""
    t = Table(title=title)
    for col in ("experiment", "claim", "paper", "ours (seed 0)", "ours (mean ± sd)", "verdict"):
        t.add_column(col)
    colors = {"reproduced": "green", "differs": "red", "inconclusive": "magenta", "info": "blue", "not run": "yellow"}
    for c in claims:
        v = c["verdict"]
        t.add_row(*(escape(str(c.get(k, ""))) for k in ("experiment", "claim", "paper", "ours_seed0", "ours_mean_sd")),
                  f"[{colors.get(v, 'white')}]{escape(v)}[/]")
    console.print(t)


@app.command("run")
def run_command(
    experiment: str | None = typer.Argument(None, help="experiment id (see `implicitbias run --list`)"),
    list_: bool = typer.Option(False, "--list", help="list the registered experiments"),
    preset: str = typer.Option("quick", "--preset", help="preset name: quick, paper, cpu, full"),
    seeds: int | None = typer.Option(None, "--seeds", help="number of seeds (chains) to run at once"),
    sets: list[str] = typer.Option([], "--set", help="override a config field: key=value"),
    out: Path = typer.Option(Path("runs"), "--out", help="runs root folder"),
    force: bool = typer.Option(False, "--force", help="rerun even if a completed run exists"),
    show_config: bool = typer.Option(False, "--show-config", help="print the resolved config and exit"),
) -> None:
    """Run one experiment; a completed run with the same config is reused."""
    if list_ or experiment is None:
        for e in experiment_ids():
            console.print(f"{e:24s} {get_experiment(e).TITLE}  presets: {', '.join(get_experiment(e).PRESETS)}")
        return
    cfg = resolve_config(experiment, preset, sets, seeds)
    check_out_dir(out)
    if show_config:
        import json

        typer.echo(json.dumps(to_dict(cfg), indent=2))
        return
    with progress_bar() as p:
        status = execute_experiment(
            experiment, to_dict(cfg), str(out), preset=preset, force=force,
            progress=task_callback(p, experiment),
        )
    if status["status"] == "locked":
        raise RunLockedError(status["error"])
    if status["status"] == "failed":
        raise UserInputError(f"{experiment} failed: {status['error']} (details in {status['path']}/failed.json)")
    res = load_result(RunDir(Path(status["path"]), experiment))
    for d in status.get("diverged_chains") or []:
        console.print(f"[yellow]chain {d['chain']} diverged at step {d['step']} and was excluded[/]")
    print_claims([c.to_dict() for c in res.claims], title=f"{experiment} ({status['status']})")
    console.print(f"run directory: {status['path']}")
