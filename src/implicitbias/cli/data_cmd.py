"""``implicitbias data list``: each dataset, where it was found, its shape and checksum status."""

from __future__ import annotations

from pathlib import Path

import typer

from implicitbias.cli import app
from implicitbias.errors import DataError

data_app = typer.Typer(help="Offline datasets (MNIST, Fashion-MNIST, CIFAR-10, digits, MNIST-1D).", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def list_cmd(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data root searched first."),
) -> None:
    """Show each dataset, where it was found, its shape and checksum status."""
    from rich.console import Console
    from rich.table import Table

    from implicitbias.data import list_datasets

    table = Table(title="datasets")
    for col in ("name", "found", "location", "shape", "checksum", "note"):
        table.add_column(col)
    rows = list_datasets(str(data_dir) if data_dir else None)
    for r in rows:
        table.add_row(r["name"], "yes" if r["found"] else "no", r["location"], r["shape"], r["checksum"], r.get("problem") or r["note"])
    Console().print(table)
    problems = [r["problem"] for r in rows if r.get("problem")]
    if problems:
        raise DataError("; ".join(problems))
