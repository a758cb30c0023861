"""``implicitbias ff ...``: Forward-Forward training (``ff train``).

``ff_app`` is the ``ff`` command group; other modules (``ff analyze``) add commands to it by
importing :data:`ff_app`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from implicitbias.cli import app

ff_app = typer.Typer(
    help="Forward-Forward, BP/FF and BP trainers on offline datasets.",
    no_args_is_help=True,
)
app.add_typer(ff_app, name="ff")


@ff_app.command("train")
def train_cmd(
    preset: str | None = typer.Option(None, "--preset", help="FF preset, e.g. TOSATO_MNIST, HINTON_MNIST, DIGITS_quick, FF_AUTO (default with --data)."),
    algo: str | None = typer.Option(None, "--algo", help="ff | ff-simultaneous | bpff | bpff-perlayer | bp"),
    epochs: int | None = typer.Option(None, "--epochs", help="Epochs (per layer for greedy ff)."),
    seed: int | None = typer.Option(None, "--seed"),
    set_: list[str] = typer.Option([], "--set", help="Config override key=value (repeatable)."),
    out: Path = typer.Option(Path("runs"), "--out", help="Runs root folder."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
    force: bool = typer.Option(False, "--force", help="Retrain even if a completed run exists."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Data root searched first."),
    threads: int | None = typer.Option(None, "--threads", help="torch CPU threads (1 is fastest on a loaded machine)."),
    data: Path | None = typer.Option(None, "--data", help="Your dataset: image folder / tarball, .npz or CSV / TSV (docs/your-data.md)."),
    label_column: str | None = typer.Option(None, "--label-column", help="CSV / TSV label column, name or index (default: first non-numeric, else first)."),
    test_fraction: float | None = typer.Option(None, "--test-fraction", help="Held-out fraction per class when --data has no test split (0.2)."),
    snapshots: str = typer.Option("", "--snapshots", help="Keep the weights at these epochs (per layer for greedy ff), e.g. 1,3,10,30,100; 'ff snapshots RUN' writes their representations."),
) -> None:
    """Train FF / BP-FF / BP on a preset; writes a run directory and prints its summary."""
    import dataclasses
    import json

    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from implicitbias.config import override
    from implicitbias.errors import UserInputError
    from implicitbias.ff import ALGOS, get_preset, train_run
    from implicitbias.ff.snapshots import parse_snapshots
    from implicitbias.runs.rundir import check_out_dir

    check_out_dir(out)
    snaps = parse_snapshots(snapshots)
    if preset is None and data is None:
        raise UserInputError("give --preset NAME or --data PATH")
    preset = preset or "FF_AUTO"
    cfg = get_preset(preset)
    if data is not None:
        cfg = dataclasses.replace(cfg, data=str(data))
    if label_column is not None:
        cfg = dataclasses.replace(cfg, label_column=label_column)
    if test_fraction is not None:
        cfg = dataclasses.replace(cfg, test_fraction=test_fraction)
    if algo is not None:
        if algo not in ALGOS:
            raise UserInputError(f"unknown --algo {algo!r} (use {', '.join(ALGOS)})")
        cfg = dataclasses.replace(cfg, algo=algo)  # type: ignore[arg-type]
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    cfg = override(cfg, set_)
    if threads is not None:
        if threads < 1:
            raise UserInputError("--threads must be >= 1")
        torch.set_num_threads(threads)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), TextColumn("{task.fields[msg]}")) as bar:
        task = bar.add_task(f"{preset} {cfg.algo}", total=None, msg="loading data")

        def progress(done: int, total: int, message: str = "") -> None:
            bar.update(task, completed=done, total=total, msg=message)

        run = train_run(cfg, out_root=out, device=device, force=force, resume=resume, progress=progress, data_dir=data_dir,
                        snapshots=snaps)
    summary = run.read_json("summary")
    keys = ("test_acc", "per_layer_acc", "wall_time_s", "epochs", "algo", "dataset")
    typer.echo(json.dumps({k: summary.get(k) for k in keys} | {"run": str(run.path)}))
