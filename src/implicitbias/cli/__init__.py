"""The ``implicitbias`` command line: a thin typer app over the library.

Each command group lives in its own module under ``implicitbias.cli`` and registers itself
on :data:`app` when imported by :func:`_load_commands`.

Errors are handled in ONE place, :class:`ErrorHandlingGroup` (the class of the root click
group), so every command, including ones added later, gets the same behaviour whether it is
run from the console script or in-process (``typer.testing.CliRunner``):

* :class:`~implicitbias.errors.UserInputError` (and subclasses: data, lock, resource errors),
  click usage errors (bad option types, unknown commands), ``MemoryError`` and disk-full /
  permission ``OSError`` → one ``error: ...`` line on stderr, exit code 2;
* :class:`~implicitbias.errors.Diverged` → one ``error: ...`` line, exit code 1;
* anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import importlib
import logging
import sys
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors click as typer._click; older releases use click itself
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click  # type: ignore[no-redef]

from implicitbias.errors import Diverged, UserInputError

#: ``OSError`` errnos that are the user's environment, not a bug (reported in one line).
_ENV_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def error_line(message: object) -> str:
    """``error: <message>`` on one line (newlines folded)."""
    text = " ".join(str(message).split()) or "failed"
    return f"error: {text}"


def known_error(exc: BaseException) -> tuple[str, int] | None:
    """``(one-line message, exit code)`` for a known error, ``None`` for a bug."""
    if isinstance(exc, UserInputError):
        return error_line(exc), 2
    if isinstance(exc, Diverged):
        return error_line(exc), 1
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return None
    if isinstance(exc, click.ClickException):
        msg = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            msg += f" (see `{ctx.command_path} --help`)"
        return error_line(msg), 2
    if isinstance(exc, MemoryError):
        return error_line(f"out of memory{': ' + str(exc) if str(exc) else ''} (use a smaller size)"), 2
    if isinstance(exc, OSError) and exc.errno in _ENV_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        return error_line(f"{exc.strerror or exc}{where}"), 2
    return None


class ErrorHandlingGroup(TyperGroup):
    """The root click group: runs the command, maps known errors to one line + exit code."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            e.show()
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.secho(error_line("aborted"), fg=typer.colors.RED, err=True)
            sys.exit(1)
        except Exception as e:  # noqa: BLE001 - known errors become one line; bugs re-raise
            known = known_error(e)
            if known is None:
                raise
            typer.secho(known[0], fg=typer.colors.RED, err=True)
            sys.exit(known[1])
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="implicitbias",
    help="How training selects a solution: symmetry-induced implicit bias and Forward-Forward representations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ErrorHandlingGroup,
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
    "ff_snapshots_cmd",
    "ff_verdicts_cmd",
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
    typer.secho(error_line(message), fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def main() -> None:
    """Console-script entry point (errors are handled by :class:`ErrorHandlingGroup`)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _load_commands()
    app()


_load_commands()
