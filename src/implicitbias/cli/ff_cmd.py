"""``implicitbias ff ...``: Forward-Forward training (``ff train``).

``ff_app`` is the ``ff`` command group; other modules (``ff analyze``) add commands to it by
importing :data:`ff_app`.
"""

from __future__ import annotations

import typer

from implicitbias.cli import app

ff_app = typer.Typer(
    help="Forward-Forward, BP/FF and BP trainers on offline datasets.",
    no_args_is_help=True,
)
app.add_typer(ff_app, name="ff")
