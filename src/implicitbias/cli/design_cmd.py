"""``implicitbias design TARGET --shape ...`` — print an inverse-designed parametrization."""

from __future__ import annotations

import typer

from implicitbias.cli import app
from implicitbias.errors import UserInputError
from implicitbias.resources import check_fits

TARGETS = ("sparse", "tv", "group", "lowrank")


def _parse_shape(text: str) -> tuple[int, ...]:
    parts = text.replace("x", ",").replace("×", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise UserInputError(f"--shape {text!r}: expected N or MxN (positive integers)") from None
    if not shape or any(s < 1 for s in shape) or len(shape) > 2:
        raise UserInputError(f"--shape {text!r}: expected N or MxN (positive integers)")
    return shape


def _design_bytes(target: str, shape: tuple[int, ...], depth: int, rank: int) -> float:
    """Rough float64 bytes of a design: its ``D x D`` generator matrices (one per symmetry
    generator) dominate, plus the ``n x n`` basis for ``sparse``."""
    if len(shape) == 2:
        r = rank or min(shape)
        D, gens = r * (shape[0] + shape[1]) * max(depth - 1, 1), r * r * max(depth - 1, 1)
        return 8.0 * gens * D * D
    n = shape[0]
    L = max(depth, 2)
    D, gens = n * L, n * (L - 1)
    return 8.0 * (gens * D * D + 2 * n * n)


@app.command("design")
def design_command(
    target: str = typer.Argument(..., help=f"target bias: {', '.join(TARGETS)}"),
    shape: str = typer.Option(..., "--shape", help="predictor shape: N (vector) or MxN (matrix, lowrank)"),
    basis: str = typer.Option("identity", "--basis", help="sparse: identity, dct, haar or diff"),
    depth: int = typer.Option(2, "--depth", help="number of factors (sparse: >= 2; lowrank: 2)"),
    groups: str = typer.Option("", "--groups", help="group: comma-separated group sizes summing to N"),
    rank: int = typer.Option(0, "--rank", help="lowrank: inner dimension r (default min(M, N))"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="check generic bias == closed form + const"),
) -> None:
    """Print the parametrization, its symmetry algebra and its induced bias."""
    from implicitbias import design as D

    shp = _parse_shape(shape)
    if target not in TARGETS:
        raise UserInputError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
    if depth < 1 or rank < 0:
        raise UserInputError("--depth must be >= 1 and --rank >= 0")
    check_fits(_design_bytes(target, shp, depth, rank), f"design {target} --shape {shape}")
    if target == "lowrank":
        if len(shp) != 2:
            raise UserInputError("lowrank needs --shape MxN")
        d = D.low_rank(shp[0], shp[1], rank or min(shp), depth)
    else:
        if len(shp) != 1:
            raise UserInputError(f"{target} needs a vector --shape N")
        n = shp[0]
        if target == "sparse":
            if basis not in D.BASES:
                raise UserInputError(f"unknown basis {basis!r} (choose from {', '.join(D.BASES)})")
            d = D.sparse_in_basis(D.BASES[basis](n), depth, name=f"sparse_in_basis({basis}, n={n}, depth={depth})")
        elif target == "tv":
            d = D.total_variation(n)
        else:
            try:
                sizes = [int(g) for g in groups.split(",") if g.strip()]
            except ValueError:
                raise UserInputError(f"--groups {groups!r}: expected comma-separated integers") from None
            if sum(sizes) != n:
                raise UserInputError(f"--groups must sum to N = {n} (got {sum(sizes)})")
            d = D.group_sparse(sizes)
    typer.echo(d.describe())
    if verify:
        typer.echo(f"verify:          {d.verify(n_points=3)}")
