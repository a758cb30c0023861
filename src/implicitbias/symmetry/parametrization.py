"""Parametrizations: a predictor as a function of a flat parameter vector.

A :class:`Parametrization` wraps a user function ``fn(params: dict[str, Tensor]) -> Tensor``
together with the shapes of its named tensors. It maps a flat vector ``theta`` (shape
``(D,)``) to the predictor ``phi(theta)`` (any shape; flattened to ``(n_out,)`` for
Jacobians). All geometry in :mod:`implicitbias.symmetry` works on the flat vector.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from implicitbias.errors import UserInputError
from implicitbias.seeding import torch_generator

__all__ = ["Parametrization"]

log = logging.getLogger(__name__)

PredictorFn = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class Parametrization:
    """A named-tensor parametrization ``theta -> phi(theta)``.

    Args:
        fn: ``fn(params) -> predictor`` where ``params[name]`` has shape ``shapes[name]``.
        shapes: ordered mapping ``name -> shape`` (an int is read as ``(int,)``). The flat
            vector concatenates the row-major flattenings in this order.
        name: optional label used in reports.

    Example:
        >>> p = Parametrization(lambda q: q["u"] * q["v"], {"u": (3,), "v": (3,)})
        >>> p.dim
        6
    """

    def __init__(self, fn: PredictorFn, shapes: Mapping[str, Any], name: str = "") -> None:
        if not callable(fn):
            raise UserInputError("parametrization function is not callable")
        if not shapes:
            raise UserInputError("a parametrization needs at least one parameter tensor")
        norm: dict[str, tuple[int, ...]] = {}
        for k, s in shapes.items():
            shp = (s,) if isinstance(s, int) else tuple(s)
            if not all(isinstance(d, int) and d > 0 for d in shp):
                raise UserInputError(f"parameter {k!r}: shape {s!r} must be positive integers")
            norm[str(k)] = shp
        self.fn = fn
        self.name = name
        self._shapes = norm
        self._slices: dict[str, slice] = {}
        start = 0
        for k, shp in norm.items():
            n = math.prod(shp)
            self._slices[k] = slice(start, start + n)
            start += n
        self._dim = start

    # ---- constructors from torch modules (implicitbias.symmetry.module) ---------------------
    @classmethod
    def from_module(cls, model: Any, example_input: Any, **kwargs: Any) -> Parametrization:
        """A module's function for all inputs; see :func:`implicitbias.symmetry.module.from_module`."""
        from implicitbias.symmetry.module import from_module

        return from_module(model, example_input, **kwargs)

    @classmethod
    def from_loss(cls, model: Any, loss_fn: Callable[..., Any], example_batch: Any, **kwargs: Any) -> Parametrization:
        """A training objective for all batches; see :func:`implicitbias.symmetry.module.from_loss`."""
        from implicitbias.symmetry.module import from_loss

        return from_loss(model, loss_fn, example_batch, **kwargs)

    # ---- layout -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """D, the total number of scalars."""
        return self._dim

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``name -> shape`` (a copy)."""
        return dict(self._shapes)

    @property
    def slices(self) -> dict[str, slice]:
        """``name -> slice`` of that tensor in the flat vector (a copy)."""
        return dict(self._slices)

    @property
    def names(self) -> list[str]:
        """Parameter names in flat order."""
        return list(self._shapes)

    def flatten(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate named tensors into the flat vector.

        Args:
            params: ``name -> tensor`` of shape ``(*batch, *shapes[name])``.

        Returns:
            Tensor of shape ``(*batch, D)``.
        """
        missing = [k for k in self._shapes if k not in params]
        if missing:
            raise UserInputError(f"missing parameter(s): {', '.join(missing)}")
        parts = []
        batch: tuple[int, ...] | None = None
        for k, shp in self._shapes.items():
            t = torch.as_tensor(params[k])
            nd = len(shp)
            if tuple(t.shape[t.dim() - nd :]) != shp or t.dim() < nd:
                raise UserInputError(f"parameter {k!r} has shape {tuple(t.shape)}, expected {shp}")
            b = tuple(t.shape[: t.dim() - nd])
            if batch is None:
                batch = b
            elif b != batch:
                raise UserInputError("parameters have different batch shapes")
            parts.append(t.reshape(*b, -1))
        return torch.cat(parts, dim=-1)

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat ``(*batch, D)`` vector into named views ``(*batch, *shape)``."""
        theta = torch.as_tensor(theta)
        if theta.shape[-1:] != (self._dim,):
            raise UserInputError(f"theta has shape {tuple(theta.shape)}, expected (..., {self._dim})")
        b = theta.shape[:-1]
        return {k: theta[..., s].reshape(*b, *self._shapes[k]) for k, s in self._slices.items()}

    # ---- evaluation ---------------------------------------------------------------------
    def __call__(self, theta: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The predictor at one flat ``theta`` of shape ``(D,)`` (or a dict of tensors)."""
        params = dict(theta) if isinstance(theta, Mapping) else self.unflatten(theta)
        return self.fn(params)

    def batched(self, theta: torch.Tensor) -> torch.Tensor:
        """Predictors for a batch ``(C, D) -> (C, *out)`` (``torch.func.vmap``, else a loop)."""
        theta = torch.as_tensor(theta)
        try:
            return torch.func.vmap(lambda t: self(t))(theta)
        except Exception:  # noqa: BLE001 - user functions may not be vmappable
            return torch.stack([self(t) for t in theta])

    def flat_output(self, theta: torch.Tensor) -> torch.Tensor:
        """The predictor at ``theta`` flattened to ``(n_out,)``."""
        out = self(theta)
        if not isinstance(out, torch.Tensor):
            raise UserInputError(f"the function returned {type(out).__name__}, not a torch.Tensor")
        return out.reshape(-1)

    def jacobian(self, theta: torch.Tensor) -> torch.Tensor:
        """``J = d phi / d theta`` at one point, shape ``(n_out, D)``, in ``theta``'s dtype.

        Uses ``torch.func`` (reverse mode if ``n_out < D`` else forward mode) and falls back to
        ``torch.autograd.functional.jacobian`` for functions ``torch.func`` cannot transform.
        """
        theta = torch.as_tensor(theta).detach()
        n_out = self.flat_output(theta).numel()
        try:
            jf = torch.func.jacrev if n_out < self._dim else torch.func.jacfwd
            jac = jf(self.flat_output)(theta)
        except Exception as e:  # noqa: BLE001 - user functions may not support functorch
            log.debug("torch.func Jacobian failed (%s); using autograd", e)
            jac = torch.autograd.functional.jacobian(self.flat_output, theta)
        return jac.reshape(n_out, self._dim)

    def jvp(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Jacobian-vector product ``J(theta) v``, shape ``(n_out,)``."""
        _, t = torch.func.jvp(self.flat_output, (theta,), (v,))
        return t

    def random_point(self, seed: int = 0, scale: float = 1.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """A generic point: i.i.d. ``N(0, scale^2)`` entries, shape ``(D,)``, seeded."""
        g = torch_generator(seed, "parametrization-point", self.name)
        return scale * torch.randn(self._dim, generator=g, dtype=dtype)

    def validate(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        """Evaluate once and check the output is a finite tensor; returns the flat output.

        Raises:
            UserInputError: the function raises, returns a non-tensor, or a non-finite value.
        """
        theta = self.random_point(0) if theta is None else theta
        try:
            out = self(theta)
        except UserInputError:
            raise
        except Exception as e:  # noqa: BLE001 - report any user-function failure in one line
            raise UserInputError(f"the function raised {type(e).__name__}: {e}".splitlines()[0]) from None
        if not isinstance(out, torch.Tensor):
            raise UserInputError(f"the function returned {type(out).__name__}, not a torch.Tensor")
        if out.numel() == 0:
            raise UserInputError("the function returned an empty tensor")
        if not torch.is_floating_point(out):
            raise UserInputError(f"the function returned a {out.dtype} tensor; expected floating point")
        if not torch.isfinite(out).all():
            raise UserInputError("the function returned non-finite values at a random point")
        return out.reshape(-1)

    def describe_index(self, i: int) -> str:
        """Human name of flat index ``i``, e.g. ``"U[2,0]"``."""
        for k, s in self._slices.items():
            if s.start <= i < s.stop:
                idx = _unravel(i - s.start, self._shapes[k])
                return f"{k}[{','.join(str(j) for j in idx)}]"
        raise IndexError(i)

    def __repr__(self) -> str:
        shp = ", ".join(f"{k}={v}" for k, v in self._shapes.items())
        return f"Parametrization({self.name or 'fn'}: {shp}; D={self._dim})"


def _unravel(i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for d in reversed(shape):
        out.append(i % d)
        i //= d
    return tuple(reversed(out))
