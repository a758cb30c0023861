"""``implicitbias symmetry``: discover the symmetry algebra of a function, or check the catalogue.

* ``implicitbias symmetry FILE.py:FUNC --param u=3 --param v=3,2 [--json]``
* ``implicitbias symmetry FILE.py:build --input-shape 784 [--batch 64] [--loss FILE.py:loss] [--json]``
* ``implicitbias symmetry --catalog [--preset quick|paper]``
"""

from __future__ import annotations

import json
import math

import typer

from implicitbias.cli import app
from implicitbias.errors import UserInputError


def _fmt(x: float, spec: str = ".1e") -> str:
    return "nan" if x != x else ("inf" if math.isinf(x) else format(x, spec))


def _catalog(preset: str, seed: int, n_points: int, temperature: float, as_json: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from implicitbias.symmetry.catalog import default_entries
    from implicitbias.symmetry.check import check_catalog

    try:
        entries = default_entries(preset)
    except ValueError as e:
        raise UserInputError(str(e)) from None
    console = Console(stderr=as_json)
    if not console.is_terminal:
        console = Console(stderr=as_json, width=180)  # a pipe: do not wrap the table at 80 columns
    with console.status("discovering symmetry algebras...") as status:

        def progress(done: int, total: int, msg: str = "") -> None:
            status.update(f"[{done}/{total}] {msg}")

        rows = check_catalog(entries, progress=progress, seed=seed, n_points=n_points, temperature=temperature)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=1))
    else:
        table = Table(title=f"symmetry catalogue ({preset} sizes; {n_points} random θ, T={temperature})")
        for col in ("entry", "D", "group", "analytic dim", "discovered dim", "mode",
                    "max angle", "closure", "bias spread", "closed-form bias", "agrees"):
            table.add_column(col, justify="left" if col in ("entry", "group", "closed-form bias") else "right")
        for r in rows:
            table.add_row(
                escape(r.name), str(r.D), escape(r.group), str(r.analytic_dim),
                f"{r.discovered_dim} (full {r.full_dim})" if r.analytic_dim != r.full_dim else str(r.discovered_dim),
                r.mode, _fmt(r.max_angle), _fmt(r.closure_residual), _fmt(r.bias_spread), escape(r.formula),
                "[green]yes[/green]" if r.agrees else "[red]NO[/red]",
            )
        console.print(table)
        console.print(
            "max angle: largest principal angle between discovered and analytic spans "
            "(subgroup rows: analytic ⊂ discovered); bias spread: max−min over θ of "
            "induced_bias − closed form (moment-map gauge, float64)."
        )
    if not all(r.agrees for r in rows):
        raise typer.Exit(1)


def _user(spec: str, params: list[str], as_json: bool, mode: str, seed: int, temperature: float, n_eval: int) -> None:
    import torch

    from implicitbias.symmetry import discover_symmetries, induced_bias
    from implicitbias.symmetry.gauge import SingularOrbitWarning, gauge_name
    from implicitbias.symmetry.userfn import build_parametrization

    if mode not in ("auto", "dense", "structured", "sparse"):
        raise UserInputError(f"--mode must be auto, dense, structured or sparse, not {mode!r}")
    p = build_parametrization(spec, params)
    alg = discover_symmetries(p, seed=seed, mode=mode)  # type: ignore[arg-type]
    pts = torch.stack([p.random_point(seed + 1 + i) for i in range(n_eval)])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularOrbitWarning)
        logvol = alg.log_volume(pts).tolist() if alg.dim else [0.0] * n_eval
        bias = induced_bias(alg, pts, temperature).tolist() if alg.dim else [0.0] * n_eval
    sym = alg.symmetric_part()
    if as_json:
        out = {
            "dim": alg.dim,
            "D": p.dim,
            "generators": alg.generators.tolist(),
            "generator_descriptions": alg.names,
            "param_slices": {k: [s.start, s.stop] for k, s in p.slices.items()},
            "closure_residual": alg.info.get("closure_residual"),
            "symmetric_dim": sym.dim,
            "mode": alg.info.get("mode"),
            "rank_history": alg.info.get("rank_history"),
            "gauge": gauge_name,
            "temperature": temperature,
            "log_volume": logvol,
            "induced_bias": bias,
        }
        typer.echo(json.dumps(out, allow_nan=True))
        return
    typer.echo(f"{spec}: D = {p.dim} ({', '.join(f'{k}{list(v)}' for k, v in p.shapes.items())})")
    typer.echo(f"symmetry algebra: dim {alg.dim} ({alg.info.get('mode')} ansatz, "
               f"{alg.info.get('n_points')} points, rank history {alg.info.get('rank_history')})")
    for a, name in enumerate(alg.names):
        typer.echo(f"  xi_{a}: {name}")
    typer.echo(f"closure residual: {_fmt(float(alg.info.get('closure_residual', math.nan)))}")
    typer.echo(f"symmetric (balancing) part: dim {sym.dim}; gauge: {gauge_name}")
    for i in range(n_eval):
        typer.echo(f"  random point {i}: log-volume {_fmt(logvol[i], '.4f')}, "
                   f"induced bias (T={temperature}) {_fmt(bias[i], '.4f')}")


@app.command()
def symmetry(
    spec: str = typer.Argument(None, help="FILE.py:FUNC, a function params_dict -> predictor tensor."),
    param: list[str] = typer.Option(None, "--param", "-p", help="NAME=SHAPE, e.g. u=3 or v=3,2 (repeat)."),
    catalog: bool = typer.Option(False, "--catalog", help="Check the built-in catalogue instead."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    mode: str = typer.Option("auto", help="Discovery ansatz: auto, dense or structured."),
    seed: int = typer.Option(0, help="Seed of the random points."),
    temperature: float = typer.Option(1.0, "--temperature", "-T", help="T in the induced bias (T/2) log det C."),
    points: int = typer.Option(3, help="Random points for log-volume / bias (FILE mode)."),
    preset: str = typer.Option("paper", help="Catalogue sizes: paper or quick."),
    n_points: int = typer.Option(20, "--n-points", help="Random θ per catalogue row for the bias spread."),
    input_shape: str = typer.Option(None, "--input-shape", help="FILE.py:build mode: per-sample input shape, e.g. 784 or 8,128."),
    batch: int = typer.Option(64, "--batch", help="FILE.py:build mode: example batch size."),
    loss: str = typer.Option(None, "--loss", help="FILE.py:build mode: FILE.py:loss, loss(model, batch) -> scalar."),
) -> None:
    """Discover the linear symmetry algebra of FILE.py:FUNC or of a module FILE.py:build, or check the catalogue."""
    if catalog:
        if spec is not None:
            raise UserInputError("give either FILE.py:FUNC or --catalog, not both")
        _catalog(preset, seed, n_points, temperature, as_json)
        return
    if spec is None:
        raise UserInputError("give FILE.py:FUNC with --param NAME=SHAPE ..., FILE.py:build --input-shape ..., or --catalog")
    if input_shape is not None:
        if param:
            raise UserInputError("give --param (a function of named tensors) or --input-shape (a module), not both")
        from implicitbias.cli.symmetry_module import run_module

        run_module(spec, input_shape, batch, loss, as_json, mode, seed)
        return
    if loss is not None:
        raise UserInputError("--loss needs FILE.py:build --input-shape ...")
    if points < 1:
        raise UserInputError("--points must be at least 1")
    _user(spec, list(param or []), as_json, mode, seed, temperature, points)
