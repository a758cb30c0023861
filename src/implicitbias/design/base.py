"""The result type of inverse design: a parametrization module plus its symmetry geometry.

A :class:`Design` bundles

* ``module`` — an ``nn.Module`` for ``torch.nn.utils.parametrize.register_parametrization``:
  ``forward(*factors) -> weight`` and ``right_inverse(weight) -> factors`` (a balanced
  factorization of the given weight, so registering keeps the layer's function);
* ``parametrization`` — the same map on one flat parameter vector θ, as an
  :class:`implicitbias.symmetry.Parametrization` (for the symmetry machinery);
* ``algebra`` — its analytic :class:`implicitbias.symmetry.SymmetryAlgebra`;
* ``bias(predictor, T)`` — the closed-form induced bias on the *predictor*, up to a constant;
* ``verify()`` — checks, with the generic machinery (:func:`implicitbias.symmetry.induced_bias`
  in the moment-map gauge), that the closed form is right up to an additive constant at
  random points, and that every generator is a symmetry (``J_φ(θ) A_a θ = 0``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from implicitbias.seeding import torch_generator
from implicitbias.symmetry import Parametrization, SymmetryAlgebra, induced_bias

__all__ = ["Design", "VerifyReport", "init_factors_"]


def init_factors_(layer: nn.Module, tensor_name: str = "weight", std: float = 0.01,
                  generator: torch.Generator | None = None) -> None:
    """Re-initialise the factors of a parametrized tensor i.i.d. ``N(0, std²)`` in place.

    ``register_parametrization`` stores the *balanced* factorization of the current weight
    (``right_inverse``). Gradient flow conserves the moment map, so from an exactly balanced
    start a Hadamard coordinate ``c_i = u_i v_i`` can never change sign (``|u_i| = |v_i|`` for
    all time). Training from scratch therefore wants independent small factors, as the
    paper's ``p, q ~ N(0, 0.01²)``; this does that.
    """
    plist = layer.parametrizations[tensor_name]  # type: ignore[index]
    with torch.no_grad():
        if hasattr(plist, "original0"):
            i = 0
            while hasattr(plist, f"original{i}"):
                t = getattr(plist, f"original{i}")
                t.copy_(torch.randn(t.shape, generator=generator, dtype=t.dtype) * std)
                i += 1
        else:
            t = plist.original
            t.copy_(torch.randn(t.shape, generator=generator, dtype=t.dtype) * std)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :meth:`Design.verify`.

    Attributes:
        ok: all checks passed.
        offsets: ``generic − closed form`` at each random point (should be one constant).
        max_offset_dev: ``max |offset_i − offset_0|``.
        max_symmetry_residual: ``max_a ‖J(θ) A_a θ‖ / (‖J‖ ‖A_a θ‖)`` over the points.
        tol: tolerance used.
    """

    ok: bool
    offsets: tuple[float, ...]
    max_offset_dev: float
    max_symmetry_residual: float
    tol: float

    def __str__(self) -> str:
        return (f"{'OK' if self.ok else 'FAILED'}: generic − closed form constant to "
                f"{self.max_offset_dev:.2e} over {len(self.offsets)} points; "
                f"symmetry residual {self.max_symmetry_residual:.2e} (tol {self.tol:g})")


@dataclass
class Design:
    """An inverse-designed parametrization (see the module docstring).

    Attributes:
        name: e.g. ``"sparse_in_basis(n=8, depth=2)"``.
        target: the target bias in words.
        module: the ``nn.Module`` for ``register_parametrization``.
        parametrization: flat-θ version (one predictor; float64).
        algebra_factory: builds the analytic symmetry algebra on θ (dense ``(k, D, D)``
            generators, so it is built lazily on first use of :attr:`algebra`: the module
            itself never needs it, and for large shapes it would not fit in memory).
        algebra_dim: ``k``, the dimension of the algebra.
        group: the group in words.
        closed_form: ``(predictor (..., *shape), T) -> bias (...)``, up to a constant.
        formula: the closed form in words.
        predictor_shape: shape of one predictor.
    """

    name: str
    target: str
    module: nn.Module
    parametrization: Parametrization
    algebra_factory: Callable[[], SymmetryAlgebra]
    algebra_dim: int
    group: str
    closed_form: Callable[[torch.Tensor, float], torch.Tensor]
    formula: str
    predictor_shape: tuple[int, ...]
    info: dict[str, Any] = field(default_factory=dict)
    _algebra: SymmetryAlgebra | None = field(default=None, repr=False)

    #: Dense generators above this many float64 entries (k·D²) are refused (≈ 1 GB).
    MAX_DENSE_ENTRIES = 1.25e8

    @property
    def algebra(self) -> SymmetryAlgebra:
        """The analytic :class:`SymmetryAlgebra` (built on first access, then cached)."""
        if self._algebra is None:
            D = self.parametrization.dim
            if self.algebra_dim * D * D > self.MAX_DENSE_ENTRIES:
                from implicitbias.errors import UserInputError

                raise UserInputError(
                    f"{self.name}: the dense symmetry algebra ({self.algebra_dim} generators of size "
                    f"{D}x{D}) is too large to build; verify on a smaller shape (the closed form does "
                    "not depend on the size)")
            self._algebra = self.algebra_factory()
        return self._algebra

    def bias(self, predictor: torch.Tensor, T: float = 1.0) -> torch.Tensor:  # noqa: N803
        """Closed-form induced bias of ``predictor`` at temperature ``T`` (float64)."""
        return self.closed_form(torch.as_tensor(predictor).to(torch.float64), float(T))

    def generic_bias(self, theta: torch.Tensor, T: float = 1.0) -> torch.Tensor:  # noqa: N803
        """``(T/2) log det C`` at the balanced point of ``theta`` (generic machinery)."""
        return induced_bias(self.algebra, theta, T)

    def random_theta(self, n: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
        """``(n, D)`` generic points, ``N(0, scale²)``, seeded by ``(seed, name)``."""
        g = torch_generator(seed, "design-points", self.name)
        return scale * torch.randn(n, self.parametrization.dim, generator=g, dtype=torch.float64)

    def verify(self, n_points: int = 4, seed: int = 0, T: float = 1.0, tol: float = 1e-6) -> VerifyReport:  # noqa: N803
        """Generic induced bias == closed form + const at ``n_points`` random θ; and every
        generator field is in the kernel of the predictor Jacobian.

        Args:
            n_points: random points (≥ 2 for a meaningful constant check).
            seed: seed of the points.
            T: temperature.
            tol: tolerance on the offset spread and the relative Jacobian residual.
        """
        th = self.random_theta(n_points, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            gen = induced_bias(self.algebra, th, T)
        pred = torch.stack([self.parametrization(t).to(torch.float64) for t in th])
        closed = self.bias(pred, T)
        off = (gen - closed).tolist()
        dev = max(abs(o - off[0]) for o in off) if all(math.isfinite(o) for o in off) else math.inf
        res = 0.0
        for t in th:
            J = self.parametrization.jacobian(t).to(torch.float64)
            F = self.algebra.fields(t)  # (D, k)
            num = (J @ F).norm(dim=0)
            den = J.norm() * F.norm(dim=0) + 1e-300
            res = max(res, float((num / den).max()))
        ok = dev <= tol * max(1.0, abs(off[0])) and res <= tol
        return VerifyReport(ok, tuple(off), dev, res, tol)

    def describe(self) -> str:
        """Several lines: the parametrization, its algebra and its bias."""
        k, D = self.algebra_dim, self.parametrization.dim
        if k * D * D <= 1e6:
            names = self.algebra.names
            shown = ", ".join(names[:4]) + (f", … ({k} in all)" if k > 4 else "")
        else:
            shown = "(not built: large)"
        return "\n".join([
            f"design:          {self.name}",
            f"target bias:     {self.target}",
            f"module:          {self.module}",
            f"parameters:      {', '.join(f'{n}{tuple(s)}' for n, s in self.parametrization.shapes.items())} (D = {D})",
            f"symmetry group:  {self.group}; algebra dimension {k}; generators: {shown}",
            "gauge:           moment map χ_a = ½ θᵀ S_a θ (balanced slice χ = 0)",
            f"induced bias:    R = {self.formula}  (+ const)",
        ])
