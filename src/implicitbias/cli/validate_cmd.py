"""``implicitbias validate stationary|gauge|projected|temperature|all [--quick]``.

Runs the theory diagnostics of :mod:`implicitbias.experiments` (``validate_*``), prints every
number next to its target, writes figures to the run directories, and exits 0 only when the
checks that are claims of this library pass (exit 1 otherwise). Predictions of the paper
that fail for a given noise model are findings: shown, but they do not fail the command.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from implicitbias.cli import app
from implicitbias.errors import UserInputError

WHICH = ("stationary", "gauge", "projected", "temperature")


def _run_one(name: str, quick: bool, out: Path, seed: int, sets: list[str], force: bool, console):

    from implicitbias.config import override
    from implicitbias.experiments import get_experiment
    from implicitbias.experiments.base import ExperimentResult
    from implicitbias.runs import RunDir

    mod = get_experiment(f"validate_{name}")
    cfg = mod.PRESETS["quick" if quick else "paper"]
    cfg = override(cfg, [f"seed={seed}", *sets])
    run_dir = RunDir.open(out, mod.ID, cfg, force=force, lock=True)
    with run_dir:
        if run_dir.is_complete and "result" in run_dir.summary():
            console.print(f"[dim]{mod.ID}: reusing completed run {run_dir.path} (--force to recompute)[/dim]")
            return ExperimentResult.from_dict(run_dir.summary()["result"]), run_dir
        return _compute(mod, name, quick, seed, cfg, run_dir, console)


def _compute(mod, name: str, quick: bool, seed: int, cfg, run_dir, console):
    """Run one validation into its open, locked run directory."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from implicitbias.experiments.runner import check_finite_metrics

    run_dir.write_env(seed=seed, device="cpu")
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(mod.ID, total=1)

        def progress(done: int, total: int, message: str = "") -> None:
            bar.update(task, completed=done, total=max(total, 1), description=f"{mod.ID}: {message}")

        t0 = time.perf_counter()
        result = mod.run(cfg, run_dir, progress)
        result.wall_time_s = time.perf_counter() - t0
    check_finite_metrics(mod.ID, result)  # a diverged validation is never marked complete
    result.command = f"implicitbias validate {name}{' --quick' if quick else ''} --seed {seed}"
    run_dir.write_json("result", result.to_dict())
    run_dir.mark_complete({"result": result.to_dict()})
    return result, run_dir


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
        result, run_dir = _run_one(name, quick, out, seed, list(set_), force, console)
        table = Table(title=f"{result.experiment} ({result.wall_time_s:.1f} s) → {run_dir.path}", show_lines=False)
        for col in ("check", "target", "measured", "verdict", "kind", "note"):
            table.add_column(col, overflow="fold")
        for claim, lib in zip(result.claims, _library_flags(result), strict=True):
            ok = claim.verdict == "reproduced"
            colour = "green" if ok else ("red" if lib else "yellow")
            measured = claim.ours_seed0 + (f" [{claim.ours_mean_sd}]" if claim.ours_mean_sd else "")
            table.add_row(claim.claim, claim.paper, measured, f"[{colour}]{'pass' if ok else 'FAIL' if lib else 'differs'}[/{colour}]",
                          "library" if lib else "finding", claim.note)
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
