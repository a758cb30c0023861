"""The ``implicitbias`` command line: a thin typer app over the library.

Each command group lives in its own module under ``implicitbias.cli`` and registers itself
on :data:`app` when imported by :func:`_load_commands`. Library errors of type
:class:`~implicitbias.errors.UserInputError` become one red line and exit code 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from implicitbias.errors import UserInputError

app = typer.Typer(
    name="implicitbias",
    help="How training selects a solution: symmetry-induced implicit bias and Forward-Forward representations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Modules under implicitbias.cli that define commands on ``app``.
COMMAND_MODULES = [
    "symmetry_cmd",
    "validate_cmd",
    "data_cmd",
    "ff_cmd",
    "run_cmd",
    "design_cmd",
    "reproduce_cmd",
    "sweep_cmd",
    "ff_analyze_cmd",
    "data_inspect_cmd",
    "analyze_cmd",
]


@app.callback()
def _root() -> None:
    """How training selects a solution: symmetry-induced implicit bias and Forward-Forward representations."""


@app.command()
def version() -> None:
    """Print the library version."""
    from implicitbias import __version__

    typer.echo(__version__)


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"implicitbias.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"implicitbias.cli.{name}":
                raise


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line to stderr and return the ``typer.Exit`` to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _load_commands()
    try:
        app()
    except UserInputError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)


_load_commands()
