"""Probe inputs for module parametrizations: samplers, nested-batch helpers and vmap with a loop fallback.

* :func:`default_sampler`: fresh inputs shaped like one sample of an example (floats
  ``N(0, 1)``, integer labels resampled from the example's values, booleans fair coins);
* :func:`dataset_sampler`: rows drawn with replacement from a tensor or a dataset;
* :func:`wrap_sampler`: a user's ``sampler(n, generator)`` whose failures become one error line;
* :func:`vmap_or_loop`: per-probe gradients with ``torch.func.vmap``, or a loop for modules
  that cannot be vmapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from implicitbias.errors import UserInputError

__all__ = ["map_tensors", "first_tensor", "Stacked", "vmap_or_loop", "default_sampler", "dataset_sampler",
           "wrap_sampler"]

F64 = torch.float64


def one_line(prefix: str, e: BaseException) -> UserInputError:
    """``prefix: Type: message`` as one :class:`UserInputError` line."""
    return UserInputError(f"{prefix}: {type(e).__name__}: {e}".splitlines()[0])


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple | list):
        return type(obj)(map_tensors(o, fn) for o in obj)
    if isinstance(obj, Mapping):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    return obj


def first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, tuple | list):
        for o in obj:
            t = first_tensor(o)
            if t is not None:
                return t
    if isinstance(obj, Mapping):
        for o in obj.values():
            t = first_tensor(o)
            if t is not None:
                return t
    return None


class Stacked:
    """A list of batches stacked along a new leading dim (for vmap over whole batches)."""

    def __init__(self, batches: list[Any]) -> None:
        first = batches[0]
        if isinstance(first, torch.Tensor):
            self.data: Any = torch.stack(batches)
        elif isinstance(first, tuple | list):
            self.data = type(first)(torch.stack([b[i] for b in batches]) for i in range(len(first)))
        elif isinstance(first, Mapping):
            self.data = {k: torch.stack([b[k] for b in batches]) for k in first}
        else:
            raise UserInputError("a batch must be a tensor, a tuple/list or a dict of tensors")
        self.batches = batches


def vmap_or_loop(
    fn: Callable[..., dict[str, torch.Tensor]], args: tuple, n: int, loop_args: list | None = None
) -> dict[str, torch.Tensor]:
    try:
        return torch.func.vmap(fn, randomness="different")(*args)
    except UserInputError:
        raise
    except Exception:  # noqa: BLE001 - some modules cannot be vmapped; fall back to a loop
        if loop_args is None:
            loop_args = [tuple(map_tensors(a, lambda t, i=i: t[i]) for a in args) for i in range(n)]
        outs = [fn(*a) for a in loop_args]
        return {k: torch.stack([o[k] for o in outs]) for k in outs[0]}


def default_sampler(example: Any) -> Callable[[int, torch.Generator], Any]:
    """Fresh inputs shaped like one sample of ``example``: N(0, 1) floats; resampled integers."""

    def leaf(t: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
        shape = (n, *t.shape[1:])
        if torch.is_floating_point(t):
            return torch.randn(shape, generator=g, dtype=F64)
        if t.dtype == torch.bool:
            return torch.rand(shape, generator=g) < 0.5
        vals = t.reshape(-1).unique()
        idx = torch.randint(len(vals), shape, generator=g)
        return vals[idx]

    def sample(n: int, g: torch.Generator) -> Any:
        return map_tensors(example, lambda t: leaf(t, n, g))

    return sample


def dataset_sampler(data: Any) -> Callable[[int, torch.Generator], Any]:
    if isinstance(data, torch.Tensor):
        pool = data.detach()
        pool = pool.to(F64) if torch.is_floating_point(pool) else pool

        def sample(n: int, g: torch.Generator) -> torch.Tensor:
            return pool[torch.randint(len(pool), (n,), generator=g)]

        return sample
    if not hasattr(data, "__len__") or not hasattr(data, "__getitem__"):
        raise UserInputError("probe_inputs must be a tensor or a dataset (len + indexing)")

    def sample_ds(n: int, g: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(data), (n,), generator=g).tolist()
        items = [data[i] for i in idx]
        items = [it[0] if isinstance(it, tuple | list) else it for it in items]
        return torch.stack([torch.as_tensor(it) for it in items]).to(F64)

    return sample_ds


def wrap_sampler(fn: Callable[[int, torch.Generator], Any]) -> Callable[[int, torch.Generator], Any]:
    def sample(n: int, g: torch.Generator) -> Any:
        try:
            out = fn(n, g)
        except Exception as e:  # noqa: BLE001 - user code
            raise one_line("probe_sampler failed", e) from None
        return map_tensors(out, lambda t: t.to(F64) if torch.is_floating_point(t) else t)

    return sample


