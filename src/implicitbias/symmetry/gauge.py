"""Balanced gauge (Kempf–Ness), moment map and the induced bias.

For the symmetric (non-compact) generators ``S_a = S_a^T`` of an algebra, the **moment map**
is ``chi_a(theta) = 0.5 theta^T S_a theta``; its gradient is the field ``S_a theta``, so the
moment-map gauge satisfies the orthogonality condition with ``J_chi^T = Xi_S`` (reference §4.2).

**Balancing.** ``f(X) = ||exp(X) theta||^2`` over ``X = sum_a c_a S_a`` is convex along every
one-parameter subgroup (Kempf–Ness): ``d/dt f = 4 chi(exp(tX) theta) . c`` and
``d^2/dt^2 f = 4 ||X exp(tX) theta||^2``. At the current point the gradient in ``c`` is
``4 chi`` and the Hessian ``4 C`` with ``C_ab = <S_a theta, S_b theta>``, so each step is a
Newton step ``c = -C^+ chi`` followed by ``theta <- exp(X) theta`` (a group element, so the
predictor is unchanged), with backtracking on ``f``. The fixed point is the minimum-norm
point of the orbit, where ``chi = 0``.

**Induced bias** (moment-map gauge, reference §4.1–4.2):
``R(theta) = (T/2) log det C(balance(theta))``, ``C = J_chi J_chi^T``. At singular orbits
(rank drop, e.g. ``w_i = 0``) ``C`` is singular and the value is ``-inf`` with a
:class:`SingularOrbitWarning`, never NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from implicitbias.symmetry.linalg import safe_logdet

if TYPE_CHECKING:
    from implicitbias.symmetry.algebra import SymmetryAlgebra

__all__ = [
    "SingularOrbitWarning",
    "moment_map",
    "balance",
    "induced_bias",
    "constraint_gram",
    "gauge_name",
]

gauge_name = "moment-map (chi_a = 0.5 theta^T S_a theta)"
"""The gauge every induced-bias prediction of this module uses (recorded with predictions)."""


class SingularOrbitWarning(RuntimeWarning):
    """The orbit is singular (rank drop) or has no balanced point; the bias is ``-inf``."""


def moment_map(alg: SymmetryAlgebra, theta: torch.Tensor) -> torch.Tensor:
    """``chi_a = 0.5 theta^T S_a theta`` for the symmetric part; shape ``(..., m)``, float64."""
    s = alg.symmetric_part().generators
    th = torch.as_tensor(theta).to(torch.float64).cpu()
    return 0.5 * torch.einsum("...i,mij,...j->...m", th, s, th)


def _balance_one(
    s: torch.Tensor, theta: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, bool, int]:
    th = theta.clone()
    m = s.shape[0]
    if m == 0:
        return th, True, 0
    for it in range(max_iter):
        f = torch.einsum("mij,j->im", s, th)  # (D, m)
        chi = 0.5 * (th @ f)
        n2 = float(th @ th)
        if n2 == 0.0 or float(chi.abs().max()) <= tol * n2:
            return th, True, it
        c_mat = f.T @ f
        step = -torch.linalg.lstsq(c_mat, chi.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
        if not torch.isfinite(step).all():
            return th, False, it
        t = 1.0
        for _ in range(40):
            x = torch.einsum("m,mij->ij", t * step, s)
            new = torch.linalg.matrix_exp(x) @ th
            if float(new @ new) <= n2:
                break
            t *= 0.5
        else:
            return th, False, it
        th = new
    f = torch.einsum("mij,j->im", s, th)
    chi = 0.5 * (th @ f)
    return th, float(chi.abs().max()) <= tol * max(float(th @ th), 1e-300), max_iter


def balance(
    alg: SymmetryAlgebra,
    theta: torch.Tensor,
    tol: float = 1e-13,
    max_iter: int = 200,
    warn: bool = True,
) -> torch.Tensor:
    """The minimum-norm point of each orbit (Kempf–Ness Newton iteration, float64).

    Args:
        alg: the symmetry algebra; only its symmetric part moves the point.
        theta: ``(D,)`` or batched ``(..., D)``.
        tol: stop when ``max_a |chi_a| <= tol * ||theta||^2``.
        max_iter: Newton steps per point.
        warn: emit :class:`SingularOrbitWarning` for orbits that did not converge (their
            infimum is not attained: the orbit's closure contains a singular point).

    Returns:
        Balanced points, same shape as ``theta``, float64 (CPU).
    """
    s = alg.symmetric_part().generators
    th = torch.as_tensor(theta).detach().to(torch.float64).cpu()
    flat = th.reshape(-1, th.shape[-1])
    out = torch.empty_like(flat)
    failed = 0
    for i in range(flat.shape[0]):
        out[i], ok, _ = _balance_one(s, flat[i], tol, max_iter)
        failed += int(not ok)
    if failed and warn:
        warnings.warn(
            f"balance: {failed} of {flat.shape[0]} orbit(s) did not reach moment map 0 "
            "(non-closed orbit: its infimum lies on a singular stratum)",
            SingularOrbitWarning,
            stacklevel=2,
        )
    return out.reshape(th.shape)


def induced_bias(
    alg: SymmetryAlgebra,
    theta: torch.Tensor,
    temperature: float,
    balanced: bool = False,
) -> torch.Tensor:
    """Induced bias ``(T/2) log det C`` at ``balance(theta)`` in the moment-map gauge.

    ``C_ab = <S_a theta_b, S_b theta_b>`` with ``theta_b = balance(theta)`` (float64). The value
    is defined up to an additive constant fixed by the basis of the symmetric part (a fixed
    basis, so differences between points are meaningful).

    Args:
        alg: symmetry algebra (its symmetric part defines the gauge).
        theta: ``(D,)`` or ``(..., D)``.
        temperature: ``T`` (e.g. ``eta * sigma^2 / (2B)``).
        balanced: skip balancing (``theta`` already has moment map 0).

    Returns:
        Float64 tensor of shape ``theta.shape[:-1]``; ``-inf`` (with a
        :class:`SingularOrbitWarning`) at singular orbits, never NaN.
    """
    s = alg.symmetric_part().generators
    th = torch.as_tensor(theta).detach().to(torch.float64).cpu()
    if not balanced:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularOrbitWarning)
            th = balance(alg, th)
    f = torch.einsum("mij,...j->...im", s, th)
    c = f.transpose(-1, -2) @ f
    ld, singular = safe_logdet(c)
    if bool(singular.any()):
        warnings.warn(
            f"induced_bias: {int(singular.sum())} point(s) on singular orbits "
            "(constraint Gram is singular); returning -inf there",
            SingularOrbitWarning,
            stacklevel=2,
        )
    return torch.where(singular, torch.full_like(ld, -math.inf), 0.5 * float(temperature) * ld)


def constraint_gram(chi: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    """``C = J_chi J_chi^T`` for an arbitrary gauge function ``chi: (D,) -> (m,)`` (float64).

    Used to compare gauges (e.g. the Borel–Kolmogorov pair ``u - v`` vs ``u^2 - v^2``).
    """
    th = torch.as_tensor(theta).detach().to(torch.float64)
    j = torch.autograd.functional.jacobian(lambda t: chi(t).reshape(-1), th)
    return j @ j.T
