"""``implicitbias ff verdicts RUN_DIR [RUN_DIR ...]``: the five FF verdict statistics side by side.

Each RUN_DIR is a finished ``implicitbias run ff_representations`` directory; prints a markdown
table (:mod:`implicitbias.experiments.ff.compare`): every statistic's mean and 95 % interval at
the run's final point, its change from the previous snapshot ("moving" when that change's
interval excludes 0) and, with several runs, whether the first and last runs' intervals are
disjoint.
"""

from __future__ import annotations

from pathlib import Path

import typer

from implicitbias.cli.ff_cmd import ff_app


@ff_app.command("verdicts")
def verdicts_cmd(
    run_dirs: list[Path] = typer.Argument(..., help="ff_representations run directories (e.g. runs/ff_representations/<hash>)."),
    name: list[str] = typer.Option([], "--name", help="Column name per run directory (default: the folder name)."),
) -> None:
    """Print the verdict statistics of ff_representations runs as a markdown table."""
    from implicitbias.errors import UserInputError
    from implicitbias.experiments.ff.compare import markdown

    if name and len(name) != len(run_dirs):
        raise UserInputError(f"give one --name per run directory ({len(run_dirs)}), got {len(name)}")
    for d in run_dirs:
        if not d.is_dir():
            raise UserInputError(f"{d} is not a directory")
    typer.echo(markdown(run_dirs, name or None))
