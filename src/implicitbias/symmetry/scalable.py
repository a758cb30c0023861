"""Entry points that pick the discovery path and dispatch gauge functions on the algebra type.

:func:`discover_symmetries` is what ``ib.discover_symmetries`` calls: ``mode="auto"`` uses the
scalable sparse path (:mod:`implicitbias.symmetry.sparse_discovery`) for every module
parametrization (its symmetries must hold for fresh probe inputs; the return type is then
always :class:`SparseSymmetryAlgebra`) and for ``D > STRUCTURED_MAX_DIM``; otherwise the dense
ansatz for ``D <= 40`` (exact, complete) and the per-tensor structured ansatz
(:mod:`implicitbias.symmetry.discovery`) up to ``STRUCTURED_MAX_DIM``. The dense and
structured paths stay as exact references. :func:`induced_bias`, :func:`balance` and
:func:`moment_map` accept either algebra type.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

import implicitbias.symmetry.discovery as discovery
import implicitbias.symmetry.gauge as gauge
from implicitbias.errors import UserInputError
from implicitbias.symmetry.linalg import lapack_threads
from implicitbias.symmetry.parametrization import Parametrization
from implicitbias.symmetry.sparse_algebra import SparseSymmetryAlgebra

__all__ = ["discover_symmetries", "induced_bias", "balance", "moment_map", "STRUCTURED_MAX_DIM"]

STRUCTURED_MAX_DIM = 400
"""``mode="auto"`` uses the per-tensor structured ansatz up to this D, the sparse path above."""

Mode = Literal["auto", "dense", "structured", "sparse"]


def discover_symmetries(p: Parametrization, seed: int = 0, mode: Mode = "auto", rtol: float = 1e-9,
                        threads: int | None = 1, **kwargs: Any) -> Any:
    """The algebra of linear symmetries of ``p`` by the path ``mode`` picks.

    Args:
        p: a parametrization (hand-written, or from :meth:`Parametrization.from_module` /
            :meth:`Parametrization.from_loss`).
        seed: seeds random points and probes.
        mode: ``"dense"``, ``"structured"``, ``"sparse"`` or ``"auto"`` (see the module doc).
        rtol: relative singular-value threshold for null spaces.
        threads: torch threads for the factorizations (``None`` keeps the current setting).
        **kwargs: passed to the chosen path (``n_points``, ``max_rounds`` for dense/structured;
            ``gl_max``, ``blocks``, ``residual_check``, ``max_rounds`` for sparse).

    Returns:
        :class:`~implicitbias.symmetry.SymmetryAlgebra` (dense, structured) or
        :class:`~implicitbias.symmetry.sparse_algebra.SparseSymmetryAlgebra` (sparse).
    """
    if mode not in ("auto", "dense", "structured", "sparse"):
        raise UserInputError(f"unknown discovery mode {mode!r} (auto, dense, structured, sparse)")
    if mode == "auto":
        if hasattr(p, "per_probe_grads") or p.dim > STRUCTURED_MAX_DIM:
            mode = "sparse"
        else:
            mode = "dense" if p.dim <= discovery.DENSE_MAX_DIM else "structured"
    if mode == "sparse":
        from implicitbias.symmetry.sparse_discovery import discover_sparse

        with lapack_threads(threads):
            return discover_sparse(p, seed=seed, rtol=rtol, **kwargs)
    return discovery.discover_symmetries(p, seed=seed, mode=mode, rtol=rtol, threads=threads, **kwargs)


def induced_bias(alg: Any, theta: torch.Tensor, temperature: float, balanced: bool = False) -> torch.Tensor:
    """``(T/2) log det C`` at the balanced point, for a dense or a sparse algebra."""
    if isinstance(alg, SparseSymmetryAlgebra):
        return alg.induced_bias(theta, temperature, balanced=balanced)
    return gauge.induced_bias(alg, theta, temperature, balanced=balanced)


def balance(alg: Any, theta: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """The minimum-norm point of ``theta``'s orbit, for a dense or a sparse algebra."""
    return alg.balance(theta, **kwargs)


def moment_map(alg: Any, theta: torch.Tensor) -> torch.Tensor:
    """The moment maps ``chi_a = 0.5 theta^T S_a theta``, for a dense or a sparse algebra."""
    return alg.moment_map(theta)
