"""Rich progress helpers for the CLI (library code only sees a plain callback)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# Wide enough for claim tables when stderr is not a terminal (CI logs, pipes).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A rich progress display writing to stderr."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as p:
        yield p


def task_callback(progress: Progress, description: str):
    """A ``(done, total, message)`` callback updating a new task of ``progress``."""
    task = progress.add_task(description, total=None, message="")

    def update(done: int, total: int, message: str = "") -> None:
        progress.update(task, completed=done, total=total or None, message=message)

    return update
