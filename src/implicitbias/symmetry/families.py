"""Structured ansatz families as sparse operators, for discovery at millions of parameters.

Every named tensor ``T`` is viewed as ``(a, b, c)`` (``b = c = 1`` for vectors; ``c`` = the
product of trailing axes, e.g. a convolution kernel's spatial size, which is never split).
Its families, each a set of fixed operators ``B_e`` on the flat vector:

* **scale** on axis 0 (rows: ``T[i] -> T[i]``, ``a`` operators) or axis 1 (columns, ``b``);
* **GL** blocks on axis 0 or 1: ``E_xy`` in ``gl(s)`` acting on a block of ``s`` rows
  (``T[o+x] += T[o+y]``) or columns; used for attention heads (``s = head_dim``) and for any
  axis of length ``<= gl_max`` (then replacing the scale family of that axis);
* **scalar**: ``T -> T`` (one operator per tensor).

A bias needs no coupling rule: its entries form an axis-0 family of their own, so a
generator "row ``j`` of ``W``, ``b[j]`` and column ``j`` of the next layer" appears as a null
vector over three ansatz elements.

**Constraints never build a ``(D, D)`` object.** For a gradient ``g`` of one scalar output
projection, ``<g, B_e theta>`` is a reduction of ``g * theta`` over rows / columns (scale,
scalar) or a small ``s x s`` contraction ``g_blk theta_blk^T`` (GL):
:meth:`Families.contract` maps per-probe gradients ``(n, D)`` to constraint rows
``(n, size)``.

**Slots.** Elements are grouped by a key that aligns indices across tensors that multiply
each other: ``("scale", n, i)`` for index ``i`` of any axis of length ``n`` (row ``j`` of one
layer, column ``j`` of the next, bias entry ``j``) and ``("gl", s, {x, y})`` for ``E_xy`` and
``E_yx`` in every block of size ``s`` (all heads, q with k, v with out-projection);
``("scalar",)`` holds the per-tensor scalars. Discovery solves one small null space per slot.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["Family", "Families", "GL_MAX"]

F64 = torch.float64
GL_MAX = 16
"""Axes of at most this length get a full ``GL`` family instead of a scale family."""


@dataclass(frozen=True)
class Family:
    """One family of ansatz elements on one tensor.

    Attributes:
        kind: ``"scale"``, ``"gl"`` or ``"scalar"``.
        tensor: parameter name.
        axis: 0 or 1 (``-1`` for scalar).
        offset: first index of the block along ``axis`` (GL), else 0.
        size: block size ``s`` (GL) or axis length (scale); 1 for scalar.
        start: column of the first element in the ansatz coefficient vector.
        n: number of elements (``s*s`` for GL: element ``x*s + y`` is ``E_xy``).
    """

    kind: str
    tensor: str
    axis: int
    offset: int
    size: int
    start: int
    n: int


def _view(shape: tuple[int, ...]) -> tuple[int, int, int]:
    a = shape[0]
    b = shape[1] if len(shape) > 1 else 1
    return a, b, math.prod(shape[2:]) if len(shape) > 2 else 1


class Families:
    """The structured ansatz of a parametrization (see the module docstring).

    Args:
        p: the parametrization (its tensor shapes).
        blocks: ``{(name, axis): s}`` head blocks of size ``s`` (e.g.
            :func:`implicitbias.symmetry.module.head_blocks`); the axis length must be a
            multiple of ``s``.
        gl_max: axes of at most this length get a full ``GL`` family.
    """

    def __init__(self, p: Parametrization, blocks: dict[tuple[str, int], int] | None = None,
                 gl_max: int = GL_MAX) -> None:
        self.dim = p.dim
        self.views = {k: _view(s) for k, s in p.shapes.items()}
        self.offsets = {k: s.start for k, s in p.slices.items()}
        blocks = dict(blocks or {})
        fams: list[Family] = []
        off = 0

        def add(kind: str, t: str, axis: int, o: int, size: int, n: int) -> None:
            nonlocal off
            fams.append(Family(kind, t, axis, o, size, off, n))
            off += n

        for t, (a, b, _c) in self.views.items():
            for axis, length in ((0, a), (1, b)):
                if axis == 1 and b == 1:
                    continue
                s = blocks.get((t, axis))
                if s is not None and length % s == 0 and s < length:
                    for o in range(0, length, s):
                        add("gl", t, axis, o, s, s * s)
                elif length <= gl_max or s == length:
                    add("gl", t, axis, 0, length, length * length)
                else:
                    add("scale", t, axis, 0, length, length)
            add("scalar", t, -1, 0, 1, 1)
        self.families = fams
        self.size = off
        self._starts = [f.start for f in fams]
        self._keys: list[tuple] | None = None

    # ---- slots ---------------------------------------------------------------------------
    def slot_keys(self) -> list[tuple]:
        """The slot key of every ansatz element (length ``size``; cached)."""
        if getattr(self, "_keys", None) is not None:
            return self._keys
        keys: list[tuple] = [()] * self.size
        for f in self.families:
            if f.kind == "scalar":
                keys[f.start] = ("scalar",)
            elif f.kind == "scale":
                for i in range(f.n):
                    keys[f.start + i] = ("scale", f.size, i)
            else:
                s = f.size
                for x in range(s):
                    for y in range(s):
                        keys[f.start + x * s + y] = ("gl", s, min(x, y), max(x, y))
        self._keys = keys
        return keys

    def slots(self) -> list[torch.Tensor]:
        """Ansatz columns grouped by slot key (each a sorted ``LongTensor``), largest first."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        for col, key in enumerate(self.slot_keys()):
            groups[key].append(col)
        out = [torch.tensor(v, dtype=torch.long) for v in groups.values()]
        return sorted(out, key=len, reverse=True)

    def family_of(self, col: int) -> tuple[Family, int]:
        """The family holding ansatz column ``col`` and the element index inside it."""
        import bisect

        if not 0 <= col < self.size:
            raise IndexError(col)
        f = self.families[bisect.bisect_right(self._starts, col) - 1]
        return f, col - f.start

    # ---- constraints -----------------------------------------------------------------------
    def contract(self, grads: dict[str, torch.Tensor], theta: dict[str, torch.Tensor]) -> torch.Tensor:
        """Constraint rows ``K[i, e] = <g_i, B_e theta>`` for per-probe gradients.

        Args:
            grads: ``name -> (n, *shape)`` gradients of one scalar output projection each.
            theta: ``name -> shape`` the point the gradients were taken at.

        Returns:
            ``(n, size)`` float64.
        """
        n = next(iter(grads.values())).shape[0]
        out = torch.empty(n, self.size, dtype=F64)
        row_sums: dict[str, torch.Tensor] = {}  # sum_bc g * theta, shared by scale-0 and scalar
        for f in self.families:
            a, b, c = self.views[f.tensor]
            g = grads[f.tensor].to(F64).reshape(n, a, b, c)
            th = theta[f.tensor].to(F64).reshape(a, b, c)
            blk = out[:, f.start: f.start + f.n]
            if f.kind == "scalar" or (f.kind == "scale" and f.axis == 0):
                if f.tensor not in row_sums:
                    row_sums[f.tensor] = torch.einsum("nabc,abc->na", g, th)
                rs = row_sums[f.tensor]
                blk.copy_(rs.sum(1, keepdim=True) if f.kind == "scalar" else rs)
            elif f.kind == "scale":
                blk.copy_(torch.einsum("nabc,abc->nb", g, th))
            elif f.axis == 0:  # <g, E_xy T>: sum_bc g[o+x, b, c] T[o+y, b, c]
                sl = slice(f.offset, f.offset + f.size)
                blk.copy_(torch.einsum("nxbc,ybc->nxy", g[:, sl], th[sl]).reshape(n, -1))
            else:  # <g, T E_xy>: sum_rc g[r, o+y, c] T[r, o+x, c]
                sl = slice(f.offset, f.offset + f.size)
                blk.copy_(torch.einsum("nryc,rxc->nxy", g[:, :, sl], th[:, sl]).reshape(n, -1))
        return out

    # ---- operators -------------------------------------------------------------------------
    def triplets(self, gen: torch.Tensor, elem: torch.Tensor, coef: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """COO triplets of the operators ``A_a = sum_e c[a, e] B_e`` (duplicates summed later).

        Args:
            gen, elem, coef: the non-zero coefficients ``c[gen, elem] = coef`` (1-D, equal length).

        Returns:
            ``(gen, row, col, val)``: ``A_gen[row, col] += val`` for each entry; int64 / float64.
        """
        gens, rows, cols, vals = [], [], [], []
        if gen.numel() == 0:
            z = torch.zeros(0, dtype=torch.long)
            return z, z, z, torch.zeros(0, dtype=F64)
        starts = torch.tensor([f.start for f in self.families])
        fam_idx = torch.searchsorted(starts, elem, right=True) - 1
        for fi in fam_idx.unique().tolist():
            f = self.families[fi]
            sel = fam_idx == fi
            r, c = self._element_entries(f, elem[sel] - f.start)  # (m, L) each
            gens.append(gen[sel][:, None].expand_as(r).reshape(-1))
            rows.append(r.reshape(-1))
            cols.append(c.reshape(-1))
            vals.append(coef[sel].to(F64)[:, None].expand(r.shape).reshape(-1))
        return torch.cat(gens), torch.cat(rows), torch.cat(cols), torch.cat(vals)

    def _element_entries(self, f: Family, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat (row, col) indices of the unit entries of elements ``e`` of family ``f``: ``(m, L)``."""
        a, b, c = self.views[f.tensor]
        base = self.offsets[f.tensor]
        idx = torch.arange(a * b * c).reshape(a, b, c) + base
        if f.kind == "scalar":
            flat = idx.reshape(1, -1).expand(len(e), -1)
            return flat, flat
        if f.kind == "scale":
            sel = idx[e] if f.axis == 0 else idx[:, e].transpose(0, 1)
            flat = sel.reshape(len(e), -1)
            return flat, flat
        x, y = e // f.size + f.offset, e % f.size + f.offset
        if f.axis == 0:  # (E_xy T)[x] = T[y]
            return idx[x].reshape(len(e), -1), idx[y].reshape(len(e), -1)
        # (T E_xy)[:, y] = T[:, x]
        return idx[:, y].transpose(0, 1).reshape(len(e), -1), idx[:, x].transpose(0, 1).reshape(len(e), -1)

    def describe(self, col: int) -> str:
        """Human name of ansatz element ``col``, e.g. ``"fc1.weight row 17"``."""
        f, e = self.family_of(col)
        if f.kind == "scalar":
            return f"{f.tensor} (all)"
        what = "row" if f.axis == 0 else "col"
        if f.kind == "scale":
            return f"{f.tensor} {what} {e}"
        x, y = divmod(e, f.size)
        return f"{f.tensor} {what}s {f.offset}:{f.offset + f.size} E[{x},{y}]"
