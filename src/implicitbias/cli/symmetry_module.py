"""``implicitbias symmetry FILE.py:build --input-shape 784 [--batch 64] [--loss FILE.py:loss] [--json]``.

``build()`` returns a ``torch.nn.Module``; its symmetry algebra for all inputs of that shape
(or, with ``--loss``, of the objective ``loss(model, batch)`` on ``(batch, *input_shape)``
batches) is discovered with the path ``--mode`` picks (the scalable sparse path for modules).
"""

from __future__ import annotations

import json
import time

import typer

from implicitbias.errors import UserInputError


def parse_shape(text: str) -> tuple[int, ...]:
    """``"784"`` or ``"8,128"`` -> a tuple of positive ints."""
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise UserInputError(f"--input-shape {text!r}: expected integers like 784 or 8,128") from None
    if not dims or any(d <= 0 for d in dims):
        raise UserInputError(f"--input-shape {text!r}: dimensions must be positive integers")
    return dims


def _build(spec: str):  # noqa: ANN202 - returns a torch module
    from torch import nn

    from implicitbias.symmetry.userfn import load_function

    build = load_function(spec)
    try:
        model = build()
    except Exception as e:  # noqa: BLE001 - user code may raise anything
        raise UserInputError(f"{spec} raised {type(e).__name__}: {e}".splitlines()[0]) from None
    if not isinstance(model, nn.Module):
        raise UserInputError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def run_module(spec: str, input_shape: str, batch: int, loss: str | None, as_json: bool, mode: str,
               seed: int) -> None:
    """Discover and print the symmetry algebra of the module ``build()`` returns."""
    import torch

    from implicitbias.symmetry.parametrization import Parametrization
    from implicitbias.symmetry.scalable import discover_symmetries
    from implicitbias.symmetry.userfn import load_function

    if batch < 1:
        raise UserInputError("--batch must be at least 1")
    if mode not in ("auto", "dense", "structured", "sparse"):
        raise UserInputError(f"--mode must be auto, dense, structured or sparse, not {mode!r}")
    shape = parse_shape(input_shape)
    t0 = time.perf_counter()
    model = _build(spec)
    example = torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if loss:
        p = Parametrization.from_loss(model, load_function(loss), example)
    else:
        p = Parametrization.from_module(model, example)
    t1 = time.perf_counter()
    alg = discover_symmetries(p, seed=seed, mode=mode)  # type: ignore[arg-type]
    t2 = time.perf_counter()
    groups = alg.group_counts() if hasattr(alg, "group_counts") else {"": alg.dim}
    info = {k: v for k, v in alg.info.items() if isinstance(v, int | float | str | bool | type(None))}
    if as_json:
        out = {"dim": alg.dim, "D": p.dim, "mode": alg.info.get("mode"), "names": list(alg.names),
               "groups": groups, "seconds": {"build": t1 - t0, "discovery": t2 - t1, "total": t2 - t0},
               "info": info}
        typer.echo(json.dumps(out, allow_nan=True))
        return
    what = f"loss {loss}" if loss else f"inputs of shape {list(shape)}"
    typer.echo(f"{spec}: D = {p.dim} parameters in {len(p.shapes)} tensors; symmetries for all {what}")
    typer.echo(f"symmetry algebra: dim {alg.dim} ({alg.info.get('mode')} path, {t2 - t1:.1f} s)")
    for label, n in groups.items():
        typer.echo(f"  {n:6d} x {label}")
    for key in ("residual_check", "stability_residual", "rows", "unseen_coefficients"):
        if key in info:
            typer.echo(f"{key.replace('_', ' ')}: {info[key]}")
