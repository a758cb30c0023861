"""Load a user's predictor function ``FILE.py:FUNC`` and its parameter shapes (for the CLI).

The file is the user's own code, imported as a module (it runs with the user's rights, as
``python FILE.py`` would). Every failure is reported as one :class:`UserInputError` line.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from implicitbias.errors import UserInputError
from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["load_function", "parse_params", "build_parametrization"]


def load_function(spec: str) -> Callable[..., Any]:
    """Import ``FILE.py:FUNC`` and return the function."""
    if ":" not in spec:
        raise UserInputError(f"expected FILE.py:FUNC, got {spec!r}")
    path_s, func = spec.rsplit(":", 1)
    path = Path(path_s).expanduser()
    if not path.is_file():
        raise UserInputError(f"no such file: {path}")
    if not func.isidentifier():
        raise UserInputError(f"{func!r} is not a valid function name")
    name = f"_implicitbias_user_{abs(hash(str(path.resolve())))}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise UserInputError(f"cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - user code may raise anything
        sys.modules.pop(name, None)
        raise UserInputError(f"importing {path} failed: {type(e).__name__}: {e}".splitlines()[0]) from None
    fn = getattr(module, func, None)
    if fn is None:
        raise UserInputError(f"{path} has no function {func!r}")
    if not callable(fn):
        raise UserInputError(f"{path}:{func} is not callable")
    return fn


def parse_params(items: list[str]) -> dict[str, tuple[int, ...]]:
    """Parse ``["u=3", "v=3,2"]`` into ``{"u": (3,), "v": (3, 2)}``."""
    if not items:
        raise UserInputError("give the parameter shapes with --param NAME=SHAPE (e.g. --param u=3 --param v=3,2)")
    out: dict[str, tuple[int, ...]] = {}
    for it in items:
        if "=" not in it:
            raise UserInputError(f"--param {it!r} is not of the form NAME=SHAPE")
        name, shape = (s.strip() for s in it.split("=", 1))
        if not name.isidentifier():
            raise UserInputError(f"--param {it!r}: {name!r} is not a valid name")
        if name in out:
            raise UserInputError(f"--param {name} given twice")
        try:
            dims = tuple(int(d) for d in shape.replace("x", ",").split(",") if d.strip())
        except ValueError:
            raise UserInputError(f"--param {it!r}: shape must be integers like 3 or 3,2") from None
        if not dims or any(d <= 0 for d in dims):
            raise UserInputError(f"--param {it!r}: shape must be positive integers")
        out[name] = dims
    return out


def _adapt(fn: Callable[..., Any], names: list[str]) -> Callable[[dict[str, torch.Tensor]], Any]:
    """Call ``fn(params_dict)``, or ``fn(**params)`` when its arguments are the parameter names."""
    try:
        sig = inspect.signature(fn)
        argnames = [p.name for p in sig.parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        argnames = []
    if len(names) > 1 and set(names) <= set(argnames) or (len(names) == 1 and argnames == names):
        return lambda q: fn(**q)
    return fn


def build_parametrization(spec: str, params: list[str]) -> Parametrization:
    """Load ``FILE.py:FUNC``, build the :class:`Parametrization` and validate one evaluation."""
    fn = load_function(spec)
    shapes = parse_params(params)
    p = Parametrization(_adapt(fn, list(shapes)), shapes, name=spec.rsplit(":", 1)[-1])
    p.validate()
    return p
