"""``implicitbias validate stationary|gauge|projected|temperature|all [--quick]``.

Runs the theory diagnostics of :mod:`implicitbias.experiments` (``validate_*``), prints every
number next to its target, writes figures to the run directories, and exits 0 only when the
checks that are claims of this library pass (exit 1 otherwise). Predictions of the paper
that fail for a given noise model are findings: shown, but they do not fail the command.
"""

from __future__ import annotations

from pathlib import Path

import typer

from implicitbias.cli import app
from implicitbias.errors import RunLockedError, UserInputError

WHICH = ("stationary", "gauge", "projected", "temperature")


def _run_one(name: str, quick: bool, out: Path, seed: int, sets: list[str], force: bool, console):
    """Run ``validate_<name>`` through the same runner as ``run`` / ``reproduce``.

    Returns ``(result, run_dir, status)``; a completed run with the same config (from
    ``validate``, ``run`` or ``reproduce``) is reused.
    """
    from implicitbias.cli._progress import progress_bar, task_callback
    from implicitbias.config import to_dict
    from implicitbias.experiments.runner import execute_experiment, load_result, resolve_config
    from implicitbias.runs import RunDir

    exp_id = f"validate_{name}"
    preset = "quick" if quick else "paper"
    cfg = resolve_config(exp_id, preset, [f"seed={seed}", *sets])
    with progress_bar() as p:
        status = execute_experiment(exp_id, to_dict(cfg), str(out), preset=preset, force=force,
                                    progress=task_callback(p, exp_id))
    if status["status"] == "locked":
        raise RunLockedError(status["error"])
    if status["status"] == "failed":
        return None, Path(status["path"]), status
    if status["status"] == "cached":
        console.print(f"[dim]{exp_id}: reusing completed run {status['path']} (--force to recompute)[/dim]")
    run_dir = RunDir(Path(status["path"]), exp_id)
    return load_result(run_dir), run_dir, status


def _library_flags(result) -> list[bool]:
    checks = result.metrics.get("checks", [])
    if len(checks) == len(result.claims):
        return [bool(c.get("library", True)) for c in checks]
    return [True] * len(result.claims)


@app.command()
def validate(
    which: str = typer.Argument("all", help="stationary | gauge | projected | temperature | all"),
    quick: bool = typer.Option(False, "--quick", help="small preset (the whole set in a few minutes)"),
    out: Path = typer.Option(Path("runs"), "--out", help="runs root folder"),
    seed: int = typer.Option(0, "--seed", help="base seed"),
    set_: list[str] = typer.Option([], "--set", help="config override key=value (repeatable)"),
    force: bool = typer.Option(False, "--force", help="recompute even if a completed run exists"),
) -> None:
    """Check the theory's predictions against simulated dynamics; print numbers vs targets."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    names = list(WHICH) if which == "all" else [which]
    if any(n not in WHICH for n in names):
        raise UserInputError(f"unknown validation {which!r} (use one of: {', '.join(WHICH)}, all)")
    if set_ and len(names) > 1:
        raise UserInputError("--set applies to one validation at a time (name it instead of 'all')")
    from implicitbias.config import override
    from implicitbias.experiments import get_experiment
    from implicitbias.runs.rundir import check_out_dir

    for name in names:  # every config is checked before anything runs
        override(get_experiment(f"validate_{name}").PRESETS["quick" if quick else "paper"], [f"seed={seed}", *set_])
    check_out_dir(out)
    console = Console()
    failed: list[str] = []
    for name in names:
        result, run_dir, status = _run_one(name, quick, out, seed, list(set_), force, console)
        if result is None:
            typer.echo(f"error: validate_{name} failed: {status['error']} (details in {run_dir}/failed.json)", err=True)
            failed.append(f"validate_{name}: {status['error']}")
            continue
        table = Table(title=f"{result.experiment} ({result.wall_time_s:.1f} s) → {run_dir.path}", show_lines=False)
        for col in ("check", "target", "measured", "verdict", "kind", "note"):
            table.add_column(col, overflow="fold")
        for claim, lib in zip(result.claims, _library_flags(result), strict=True):
            ok = claim.verdict == "reproduced"
            colour = "green" if ok else ("red" if lib else "yellow")
            word = "pass" if ok else "FAIL" if lib else claim.verdict
            measured = claim.ours_seed0 + (f" [{claim.ours_mean_sd}]" if claim.ours_mean_sd else "")
            table.add_row(escape(claim.claim), escape(claim.paper), escape(measured), f"[{colour}]{word}[/{colour}]",
                          "library" if lib else "finding", escape(claim.note))
            if lib and not ok:
                failed.append(f"{result.experiment}: {claim.claim}")
        console.print(table)
        for f in result.figures:
            console.print(f"  figure: {run_dir.path / f}")
    if failed:
        console.print(f"[red]{len(failed)} library check(s) failed:[/red]")
        for f in failed:
            console.print(f"  - {f}")
        raise typer.Exit(1)
    console.print("[green]all library checks passed[/green] (findings about the paper's predictions are listed above)")
