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

from implicitbias.symmetry.linalg import lapack_threads, safe_logdet

if TYPE_CHECKING:
    from implicitbias.symmetry.algebra import SymmetryAlgebra

__all__ = [
    "SingularOrbitWarning",
    "expm_action",
    "moment_map",
    "balance",
    "induced_bias",
    "constraint_gram",
    "gauge_name",
]

gauge_name = "moment-map (chi_a = 0.5 theta^T S_a theta)"
"""The gauge every induced-bias prediction of this module uses (recorded with predictions)."""


SINGULAR_RTOL = 1e-10
"""Constraint-Gram eigenvalues below ``SINGULAR_RTOL * ||S||^2 ||theta||^2`` count as zero."""


class SingularOrbitWarning(RuntimeWarning):
    """The orbit is singular (rank drop) or has no balanced point; the bias is ``-inf``."""


def moment_map(alg: SymmetryAlgebra, theta: torch.Tensor) -> torch.Tensor:
    """``chi_a = 0.5 theta^T S_a theta`` for the symmetric part; shape ``(..., m)``, float64."""
    sym = alg.symmetric_part()
    th = torch.as_tensor(theta).detach().to(torch.float64).cpu()
    flat = th.reshape(-1, th.shape[-1])
    if sym.dim == 0:
        return torch.zeros(*th.shape[:-1], 0, dtype=torch.float64)
    rows = (sym.sparse_flat() @ flat.T).reshape(sym.dim, sym.D, -1)  # (m, D, n)
    chi = 0.5 * torch.einsum("mdn,nd->nm", rows, flat)
    return chi.reshape(*th.shape[:-1], sym.dim)


def expm_action(
    matvec: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, norm_bound: float
) -> torch.Tensor:
    """``exp(X) @ v`` by scaling and Taylor series on the vector (no matrix exponential).

    Args:
        matvec: ``w -> X @ w``.
        v: the vector(s), ``(D,)`` or ``(D, m)``.
        norm_bound: an upper bound on ``||X||`` (any consistent norm, e.g. the inf-norm).

    ``exp(X) v = (exp(X / s))^s v`` with ``s = ceil(norm_bound / 0.5)``; each factor is summed
    until the next term is below ``1e-17`` of the partial sum (float64).
    """
    steps = max(1, math.ceil(norm_bound / 0.5))
    out = v.clone()
    for _ in range(steps):
        term = out
        acc = out.clone()
        for j in range(1, 40):
            term = matvec(term) / (j * steps)
            acc = acc + term
            if float(term.abs().max()) <= 1e-17 * float(acc.abs().max()):
                break
        out = acc
    return out


def _balance_one(
    sym: SymmetryAlgebra, theta: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, bool, int]:
    th = theta.clone()
    m, d = sym.dim, sym.D
    if m == 0:
        return th, True, 0
    sf = sym.sparse_flat()
    gnorm = sym.inf_norms()

    def rows(v: torch.Tensor) -> torch.Tensor:  # (m, D): S_a v
        return (sf @ v.unsqueeze(-1)).reshape(m, d)

    for it in range(max_iter):
        f = rows(th)
        chi = 0.5 * (f @ th)
        n2 = float(th @ th)
        if n2 == 0.0 or float(chi.abs().max()) <= tol * n2:
            return th, True, it
        c_mat = f @ f.T
        step = -torch.linalg.lstsq(c_mat, chi.unsqueeze(-1), driver="gelsd").solution.squeeze(-1)
        if not torch.isfinite(step).all():
            return th, False, it
        t = 1.0
        for _ in range(40):
            c = t * step
            new = expm_action(lambda w, c=c: c @ rows(w), th, float(c.abs() @ gnorm))
            if float(new @ new) <= n2 * (1.0 + 1e-13):  # slack: f decreases by ~chi^2 near 0
                break
            t *= 0.5
        else:
            return th, False, it
        th = new
    chi = 0.5 * (rows(th) @ th)
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
        Balanced points, same shape and device as ``theta``, float64 (computed on the CPU).
    """
    sym = alg.symmetric_part()
    th = torch.as_tensor(theta).detach().to(torch.float64).cpu()
    flat = th.reshape(-1, th.shape[-1])
    out = torch.empty_like(flat)
    failed = 0
    with lapack_threads(1):  # many tiny factorizations: threads only add overhead
        for i in range(flat.shape[0]):
            out[i], ok, _ = _balance_one(sym, flat[i], tol, max_iter)
            failed += int(not ok)
    if failed and warn:
        warnings.warn(
            f"balance: {failed} of {flat.shape[0]} orbit(s) did not reach moment map 0 "
            "(non-closed orbit: its infimum lies on a singular stratum)",
            SingularOrbitWarning,
            stacklevel=2,
        )
    return out.reshape(th.shape).to(torch.as_tensor(theta).device)


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
    sym = alg.symmetric_part()
    th = torch.as_tensor(theta).detach().to(torch.float64).cpu()
    if not balanced:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularOrbitWarning)
            th = balance(alg, th)
    with lapack_threads(1):
        return _bias_at(sym, th, float(temperature))


def _bias_at(sym: SymmetryAlgebra, th: torch.Tensor, temperature: float) -> torch.Tensor:
    flat = th.reshape(-1, th.shape[-1])
    if sym.dim == 0:  # no non-compact symmetry: no gauge, no bias
        return torch.zeros(th.shape[:-1], dtype=torch.float64)
    f = (sym.sparse_flat() @ flat.T).reshape(sym.dim, sym.D, -1).permute(2, 1, 0)  # (n, D, m)
    c = (f.transpose(-1, -2) @ f).reshape(*th.shape[:-1], sym.dim, sym.dim)
    ld, singular = safe_logdet(c)
    # A non-closed orbit (e.g. u_i = 0 != v_i) has no balanced point: Newton shrinks the
    # field towards the singular stratum until chi ~ tol ||theta||^2, leaving a tiny but
    # non-zero eigenvalue. Treat eigenvalues below SINGULAR_RTOL * ||S||^2 ||theta||^2 as 0.
    if sym.dim:
        snorm2 = float(sym.inf_norms().max()) ** 2
        n2 = (flat * flat).sum(-1).reshape(th.shape[:-1])
        lam = torch.linalg.eigvalsh(c)[..., 0]
        singular = singular | (lam <= SINGULAR_RTOL * snorm2 * n2)
    if bool(singular.any()):
        warnings.warn(
            f"induced_bias: {int(singular.sum())} point(s) on singular orbits "
            "(constraint Gram is singular); returning -inf there",
            SingularOrbitWarning,
            stacklevel=3,
        )
    return torch.where(singular, torch.full_like(ld, -math.inf), 0.5 * temperature * ld)


def constraint_gram(chi: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    """``C = J_chi J_chi^T`` for an arbitrary gauge function ``chi: (D,) -> (m,)`` (float64).

    Used to compare gauges (e.g. the Borel–Kolmogorov pair ``u - v`` vs ``u^2 - v^2``).
    """
    th = torch.as_tensor(theta).detach().to(torch.float64)
    j = torch.autograd.functional.jacobian(lambda t: chi(t).reshape(-1), th)
    return j @ j.T
