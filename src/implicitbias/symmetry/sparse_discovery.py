"""Scalable discovery: the structured symmetry algebra of a network with millions of parameters.

Never builds a Jacobian or a ``(D, D)`` matrix. With the ansatz of
:class:`~implicitbias.symmetry.families.Families` (``A = sum_e c_e B_e``):

1. **constraints**: for a fresh probe ``x_i`` (a fresh input, or a fresh random point for a
   hand-written parametrization), a random output projection ``r_i`` and a random point
   ``theta``, the gradient ``g_i = J(theta; x_i)^T r_i`` (one VJP, batched with ``vmap``) gives
   one linear constraint ``sum_e c_e <g_i, B_e theta> = 0`` on every coefficient at once; the
   contraction is a per-row / per-column reduction of ``g_i * theta``;
2. **slots**: the null space is solved separately on each slot of index-aligned elements
   (row ``j`` of a layer with column ``j`` of the next and bias entry ``j``; ``E_xy``/``E_yx`` of
   all head blocks; the per-tensor scalars), batched SVDs of ``(n, |slot|)`` matrices, so
   ``n ~ 2 max|slot| + 16`` probes suffice however large ``D`` is;
3. **stability**: every generator must annihilate fresh constraints (new probes, new points);
   otherwise the rows are added and the slots solved again; an answer that never stabilises
   is an error, never returned;
4. **global generators** (per-tensor scalars, and, when affordable, the *residual system*:
   the ansatz columns that are not pivots of a found generator, whose null space holds any
   generator spanning several slots) are kept only if they are non-zero operators independent
   of the slot generators (checked on their fields at a random point).

The result is a :class:`~implicitbias.symmetry.sparse_algebra.SparseSymmetryAlgebra` with a
fixed, sparse, per-slot reduced-echelon basis (θ-independent, reference §9.2).
"""

from __future__ import annotations

import logging
import time

import torch

import implicitbias.symmetry.sparse_generators as sg
from implicitbias.errors import UserInputError
from implicitbias.seeding import torch_generator
from implicitbias.symmetry.families import GL_MAX, Families
from implicitbias.symmetry.linalg import lapack_threads
from implicitbias.symmetry.parametrization import Parametrization
from implicitbias.symmetry.sparse_algebra import SparseSymmetryAlgebra
from implicitbias.symmetry.sparse_generators import (
    GeneratorSet,
    relative_residual,
    solve_residual,
    zero_small_columns,
)
from implicitbias.symmetry.sparse_naming import rref
from implicitbias.symmetry.sparse_span import SlotSpan

__all__ = ["discover_sparse"]

log = logging.getLogger(__name__)
F64 = torch.float64


class _Rows:
    """Constraint rows from fresh probes and fresh random points, ``chunk`` rows per point."""

    def __init__(self, p: Parametrization, fam: Families, seed: int) -> None:
        self.p, self.fam = p, fam
        self.gen = torch_generator(seed, "sparse-discovery", p.name)
        self.module = hasattr(p, "per_probe_grads")
        self.chunk = max(1, min(16, int(2**29 // (8 * max(p.dim, 1)))))
        self.drawn = 0

    def draw(self, n: int) -> torch.Tensor:
        out = []
        got = 0
        while got < n:
            m = min(self.chunk, n - got)
            if self.module:
                theta = self.p.random_theta(self.gen)  # type: ignore[attr-defined]
                grads = self.p.per_probe_grads(theta, m, self.gen)  # type: ignore[attr-defined]
            else:
                theta = torch.randn(self.p.dim, generator=self.gen, dtype=F64)
                grads, m = self._fn_grads(theta, m)
            out.append(self.fam.contract(grads, self.p.unflatten(theta)))
            got += m
        self.drawn += got
        return torch.cat(out)

    def _fn_grads(self, theta: torch.Tensor, m: int) -> tuple[dict[str, torch.Tensor], int]:
        try:
            jac = self.p.jacobian(theta).to(F64)
        except UserInputError:
            raise
        except Exception as e:  # noqa: BLE001 - user-function failure under autograd
            raise UserInputError(f"could not differentiate the function: {type(e).__name__}: {e}".splitlines()[0]) from None
        m = min(m, jac.shape[0])
        r = torch.randn(m, jac.shape[0], generator=self.gen, dtype=F64)
        return self.p.unflatten(r @ jac), m


def _solve_slots(k: torch.Tensor, slots: list[torch.Tensor], rtol: float, echelon: bool = False
                 ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], dict]:
    """Null space of ``k[:, slot]`` for every slot, batched by slot size.

    Returns:
        ``[(cols, coeffs)]`` for slots with a non-trivial null space (``coeffs`` ``(m, |slot|)``,
        in reduced echelon form if ``echelon``) and gap diagnostics.
    """
    k = zero_small_columns(k)
    colnorm = k.norm(dim=0)
    scale = torch.where(colnorm > 0, colnorm, torch.ones_like(colnorm))
    ks = k / scale
    found: list[tuple[torch.Tensor, torch.Tensor]] = []
    kept, dropped = 1.0, 0.0
    by_size: dict[int, list[torch.Tensor]] = {}
    for s in slots:
        by_size.setdefault(len(s), []).append(s)
    for size, group in by_size.items():
        idx = torch.stack(group)  # (m, size)
        a = ks[:, idx].permute(1, 0, 2)  # (m, n, size)
        with lapack_threads(1):
            _, sv, vh = torch.linalg.svd(a, full_matrices=a.shape[1] < size)
        full = torch.zeros(len(group), size, dtype=F64)
        full[:, : sv.shape[1]] = sv
        top = full[:, :1].clamp(min=1e-300)
        rank = (full > rtol * top).sum(1)
        rank = torch.where(full[:, 0] > 0, rank, torch.zeros_like(rank))
        for j in (rank < size).nonzero().flatten().tolist():
            r = int(rank[j])
            if r:
                kept = min(kept, float(full[j, r - 1] / top[j, 0]))
            if r < size and r and float(full[j, 0]) > 0:
                dropped = max(dropped, float(full[j, r] / top[j, 0]))
            coeffs = vh[j, r:] / scale[idx[j]]
            found.append((idx[j], rref(coeffs)[0] if echelon else coeffs))
    return found, {"smallest_kept_singular_value": kept, "largest_dropped_singular_value": dropped}


def discover_sparse(
    p: Parametrization,
    seed: int = 0,
    rtol: float = 1e-9,
    gl_max: int = GL_MAX,
    blocks: dict[tuple[str, int], int] | None = None,
    max_rounds: int = 6,
    residual_check: bool | str = "auto",
) -> SparseSymmetryAlgebra:
    """The structured algebra of linear symmetries of ``p``, scalable to millions of parameters.

    Args:
        p: a parametrization; for a :class:`~implicitbias.symmetry.module.ModuleParametrization`
            every constraint uses a fresh probe input (symmetries for all inputs).
        seed: seeds probes, projections and points.
        rtol: relative singular-value threshold of the slot null spaces.
        gl_max: axes of at most this length get a full ``GL`` family.
        blocks: extra ``{(name, axis): block size}`` head blocks (merged with ``p.blocks``).
        max_rounds: stability rounds before giving up with an error.
        residual_check: solve the residual system for multi-slot generators: ``True``,
            ``False`` or ``"auto"`` (at most 1500 columns and columns x D <= 2e7).

    Returns:
        A :class:`SparseSymmetryAlgebra`; ``info`` holds path, ansatz size, slot count, rows,
        rounds, stability residual, residual-check status and timings.

    Raises:
        UserInputError: the function fails, or the null space does not stabilise.
    """
    t0 = time.perf_counter()
    if not hasattr(p, "per_probe_grads"):  # module parametrizations were checked on construction
        p.validate()
    bl = dict(getattr(p, "blocks", {}) or {})
    bl.update(blocks or {})
    fam = Families(p, bl, gl_max)
    slots = fam.slots()
    smax = len(slots[0]) if slots else 0
    rows = _Rows(p, fam, seed)
    timings = {"rows": 0.0, "solve": 0.0, "global": 0.0}

    def draw(n: int) -> torch.Tensor:
        t = time.perf_counter()
        out = rows.draw(n)
        timings["rows"] += time.perf_counter() - t
        return out

    k_rows = draw(3 * smax + 24)
    worst, bad, rnd = 0.0, 0, 0
    for rnd in range(max_rounds):
        t = time.perf_counter()
        found, gaps = _solve_slots(k_rows, slots, rtol)
        timings["solve"] += time.perf_counter() - t
        check = draw(smax + 8)
        rel = relative_residual(check, found)
        worst = float(rel.max()) if rel.numel() else 0.0
        bad = int((rel > sg.STABLE_RTOL).sum())
        k_rows = torch.cat([k_rows, check])
        unseen = int((k_rows.abs().sum(0) == 0).sum())
        if not bad and unseen and rnd < max_rounds - 1 and rnd < 2:
            log.debug("sparse discovery round %d: %d coefficients unseen by every probe", rnd, unseen)
            continue  # e.g. ReLU units dead on every probe so far: draw more
        if not bad:
            found, gaps = _solve_slots(k_rows, slots, rtol, echelon=True)
            break
        log.debug("sparse discovery round %d: %d unstable generators (worst %.1e)", rnd, bad, worst)
    else:
        raise UserInputError(
            f"symmetry discovery did not stabilise after {max_rounds} rounds "
            f"({bad} generator(s) fail on fresh probes); the function may be ill-conditioned")
    t = time.perf_counter()
    is_global = [bool((torch.tensor([fam.family_of(int(c))[0].kind == "scalar" for c in cols])).all())
                 for cols, _ in found]
    local = [f for f, g in zip(found, is_global, strict=True) if not g]
    cand = [f for f, g in zip(found, is_global, strict=True) if g]
    gens = GeneratorSet(p, fam, seed)
    span = SlotSpan(fam, local)
    for cols, c in local:
        gens.add_block(cols, c)
    for cols, c in cand:  # per-tensor scalars: keep those outside the span of the slot generators
        for row in c:
            nz = row.nonzero().flatten()
            if nz.numel() and not span.contains(cols[nz], row[nz]):
                gens.add_block(cols[nz], row[nz][None, :])
                span.add(cols[nz], row[nz][None, :])
    status = solve_residual(p, fam, gens, k_rows, draw, rtol, residual_check)
    timings["global"] = time.perf_counter() - t
    alg = gens.algebra()
    alg.info.update(
        path="sparse", mode="sparse", ansatz_size=fam.size, n_slots=len(slots), largest_slot=smax,
        rows=rows.drawn, rounds=rnd + 1, unseen_coefficients=unseen, stability_residual=worst, residual_check=status,
        closure_residual=None, seconds=time.perf_counter() - t0,
        seconds_rows=timings["rows"], seconds_solve=timings["solve"], seconds_global=timings["global"], **gaps,
    )
    return alg


