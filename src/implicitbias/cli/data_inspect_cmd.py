"""``implicitbias data inspect PATH [--baseline]``: what a user's dataset holds and how FF would train on it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from implicitbias.cli.data_cmd import data_app


@data_app.command("inspect")
def inspect_cmd(
    path: Path = typer.Argument(..., help="Image folder / tarball, .npz or CSV / TSV."),
    label_column: str = typer.Option("", "--label-column", help="CSV / TSV label column, name or index (default: first non-numeric, else first)."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Held-out fraction per class when there is no test split."),
    baseline: bool = typer.Option(False, "--baseline", help="Also fit logistic regression and a small MLP (scikit-learn) and report test accuracy."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Shape, classes, counts, value range, train/test duplicates, checksum, embedding and the *_AUTO settings."""
    from implicitbias.data.inspect import baselines, inspect_data
    from implicitbias.data.userdata import load_user_data
    from implicitbias.ff.auto import auto_hparams

    ud = load_user_data(path, label_column, test_fraction)
    info = inspect_data(ud)
    info["auto_presets"] = {
        name: auto_hparams(algo, ud.dim, ud.num_classes, len(ud.y_train))
        for name, algo in (("FF_AUTO", "ff"), ("BPFF_AUTO", "bpff"), ("BP_AUTO", "bp"))
    }
    if baseline:
        info["baseline"] = baselines(ud)
    if as_json:
        typer.echo(json.dumps(info, default=list))
        return
    typer.echo(format_info(info))


def format_info(info: dict) -> str:
    """The text report of ``data inspect``."""
    lines = [
        f"source      {info['source']}",
        f"kind        {info['kind']}  shape {'x'.join(map(str, info['shape']))}  (D = {info['dim']}, raw dtype {info['dtype']})",
        f"classes     {info['num_classes']}: {', '.join(info['classes'][:20])}{' ...' if info['num_classes'] > 20 else ''}",
        f"samples     train {info['n_train']}  test {info['n_test']}  (split: {info['split']})",
        f"per class   {'  '.join(f'{c}: {a}/{b}' for c, a, b in zip(info['classes'], info['counts']['train'], info['counts']['test'], strict=True))}",
        f"values      [{info['value_range'][0]:.4g}, {info['value_range'][1]:.4g}] raw; scaled by {info['scaling']}",
        f"duplicates  {info['duplicates_train_test']} test rows identical to a training row",
        f"checksum    sha256 {info['checksum']}",
        f"embedding   {info['embedding']}",
    ]
    for name, hp in info["auto_presets"].items():
        lines.append(f"{name:<11} hidden {list(hp['hidden'])}  epochs {hp['epochs']}{' per layer' if name == 'FF_AUTO' else ''}  lr {hp['lr']:g}  batch {hp['batch_size']}")
    for name, r in info.get("baseline", {}).items():
        lines.append(f"baseline    {name}: test acc {r['test_acc']:.4f}  ({r['fit_s']:.1f} s)")
    return "\n".join(lines)
