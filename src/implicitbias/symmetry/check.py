"""Catalogue check: discovered vs analytic algebra, generic vs closed-form bias.

For each :class:`~implicitbias.symmetry.catalog.CatalogEntry`:

* discover the complete linear symmetry algebra numerically and compare its dimension with
  ``entry.full_dim``; compare spans by the largest principal angle (for a subgroup entry:
  the largest angle between the analytic subalgebra and the discovered span, i.e.
  containment);
* over ``n_points`` random θ, the spread (max − min) of
  ``induced_bias(alg, θ, T) − entry.bias(θ, T)`` for the analytic algebra and, for a
  full-algebra entry, the discovered one. Agreement means a θ-independent difference.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from implicitbias.symmetry.catalog import CatalogEntry
from implicitbias.symmetry.discovery import discover_symmetries
from implicitbias.symmetry.gauge import induced_bias
from implicitbias.symmetry.linalg import containment_angle, lapack_threads, max_principal_angle

__all__ = ["EntryCheck", "check_entry", "check_catalog"]


@dataclass(frozen=True)
class EntryCheck:
    """One row of the catalogue table (JSON-ready via :meth:`to_dict`)."""

    name: str
    D: int  # noqa: N815
    group: str
    formula: str
    analytic_dim: int
    full_dim: int
    discovered_dim: int
    mode: str
    max_angle: float
    closure_residual: float
    bias_spread: float
    bias_offset: float
    n_points: int
    discovery_seconds: float
    agrees: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _spread(alg, entry: CatalogEntry, pts: torch.Tensor, temperature: float) -> tuple[float, float]:
    diff = induced_bias(alg, pts, temperature) - entry.bias(pts, temperature)
    if not bool(torch.isfinite(diff).all()):
        return math.inf, math.nan
    return float(diff.max() - diff.min()), float(diff.mean())


def check_entry(
    entry: CatalogEntry,
    seed: int = 0,
    n_points: int = 20,
    temperature: float = 1.0,
    mode: str = "auto",
    angle_tol: float = 1e-6,
    spread_tol: float = 1e-6,
    threads: int | None = 1,
) -> EntryCheck:
    """Check one catalogue entry (see module docstring)."""
    with lapack_threads(threads):
        alg = discover_symmetries(entry.parametrization, seed=seed, mode=mode, threads=None)
        ana = entry.algebra.generators.reshape(entry.algebra.dim, -1)
        disc = alg.generators.reshape(alg.dim, -1)
        if entry.is_subgroup:
            angle = containment_angle(ana, disc) if alg.dim else math.pi / 2
        else:
            angle = max_principal_angle(ana, disc)
        pts = entry.random_points(n_points, seed=seed)
        spread, offset = _spread(entry.algebra, entry, pts, temperature)
        if not entry.is_subgroup:
            s2, _ = _spread(alg, entry, pts, temperature)
            spread = max(spread, s2)
    closure = float(alg.info.get("closure_residual", math.nan))
    agrees = (
        alg.dim == entry.full_dim
        and angle < angle_tol
        and spread < spread_tol
        and closure < 1e-6
    )
    return EntryCheck(
        name=entry.name, D=entry.parametrization.dim, group=entry.group, formula=entry.formula,
        analytic_dim=entry.algebra.dim, full_dim=entry.full_dim, discovered_dim=alg.dim,
        mode=str(alg.info.get("mode")), max_angle=angle, closure_residual=closure,
        bias_spread=spread, bias_offset=offset, n_points=n_points,
        discovery_seconds=float(alg.info.get("seconds", math.nan)), agrees=bool(agrees),
    )


def check_catalog(entries: list[CatalogEntry], progress=None, **kwargs) -> list[EntryCheck]:
    """:func:`check_entry` for each entry; ``progress(done, total, name)`` if given."""
    out = []
    t0 = time.perf_counter()
    for i, e in enumerate(entries):
        if progress is not None:
            progress(i, len(entries), e.name)
        out.append(check_entry(e, **kwargs))
    if progress is not None:
        progress(len(entries), len(entries), f"done in {time.perf_counter() - t0:.1f}s")
    return out
