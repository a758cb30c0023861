"""``implicitbias ff snapshots RUN_DIR``: representations and accuracy at every stored snapshot.

A run trained with ``ff train --snapshots 1,3,10`` keeps its weights at those epochs; this
writes (or reuses) each snapshot's ``representations.safetensors`` and ``summary.json`` under
``RUN_DIR/snapshots/epoch_XXXXX/`` (:mod:`implicitbias.ff.snapshot_eval`) and prints one JSON
line per snapshot. ``ff analyze RUN_DIR/snapshots/epoch_XXXXX`` then analyses one of them.
"""

from __future__ import annotations

from pathlib import Path

import typer

from implicitbias.cli.ff_cmd import ff_app


@ff_app.command("snapshots")
def snapshots_cmd(
    run_dir: Path = typer.Argument(..., help="A completed FF-engine run directory trained with --snapshots."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data root searched first."),
    force: bool = typer.Option(False, "--force", help="Rewrite snapshots already written."),
) -> None:
    """Write the representations of a run's snapshots and print their accuracies."""
    import json

    from implicitbias.device import resolve_device
    from implicitbias.errors import UserInputError
    from implicitbias.ff.snapshot_eval import materialize

    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir} is not a directory")
    out = materialize(run_dir, device=resolve_device(device), data_dir=data_dir, force=force)
    if not out:
        raise UserInputError(f"{run_dir} has no snapshots (train it with --snapshots 1,3,10,...)")
    for epoch, path in out.items():
        s = json.loads((path / "summary.json").read_text())
        typer.echo(json.dumps({"epoch": epoch, "test_acc": s.get("test_acc"), "per_layer_acc": s.get("per_layer_acc"), "path": str(path)}))
