"""Balanced gauge (Kempf–Ness), moment map and the induced bias.

For the symmetric (non-compact) generators ``S_a = S_a^T`` of an algebra, the **moment map**
is ``chi_a(theta) = 0.5 theta^T S_a theta``; its gradient is the field ``S_a theta``, so the
moment-map gauge satisfies the orthogonality condition with ``J_chi^T = Xi_S`` (reference §4.2).

**Balancing** (Kempf–Ness Newton iteration to the minimum-norm point of the orbit, where
``chi = 0``) is implemented in :mod:`implicitbias.symmetry.kempf_ness`; :func:`balance` and
:func:`moment_map` here are the algebra-level entry points.

**Induced bias** (moment-map gauge, reference §4.1–4.2):
``R(theta) = (T/2) log det C(balance(theta))``, ``C = J_chi J_chi^T``. At singular orbits
(rank drop, e.g. ``w_i = 0``) ``C`` is singular and the value is ``-inf`` with a
:class:`SingularOrbitWarning`, never NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from implicitbias.symmetry.algebra import SymmetryAlgebra
from implicitbias.symmetry.kempf_ness import SingularOrbitWarning, expm_action
from implicitbias.symmetry.linalg import lapack_threads, safe_logdet

__all__ = [
    "SingularOrbitWarning",  # re-exported from kempf_ness
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


def moment_map(alg: SymmetryAlgebra, theta: torch.Tensor) -> torch.Tensor:
    """``chi_a = 0.5 theta^T S_a theta`` for the symmetric part; shape ``(..., m)``, float64."""
    return alg.moment_map(theta)


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
    return alg.balance(theta, tol=tol, max_iter=max_iter, warn=warn, stacklevel=3)


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
