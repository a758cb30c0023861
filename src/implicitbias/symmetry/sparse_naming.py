"""Reduced-echelon bases and human names for generators found by the scalable discovery.

Names read like ``"rescale fc1 unit 17"`` (row 17 of ``fc1.weight`` with its bias entry and the
matching column of the next layer), ``"GL(32) attn head 0 qk E[3,5]"`` (one element of the
``gl(head_dim)`` acting on a head's query/key blocks) or ``"scale fc1.weight up, fc2.weight
down"`` (per-tensor scalars); the group label drops the index (``"rescale fc1"``,
``"GL(32) attn head 0 qk"``).
"""

from __future__ import annotations

import numpy as np
import torch

from implicitbias.symmetry.families import Families, Family

__all__ = ["rref", "name_generator"]


def rref(vecs: torch.Tensor, zero_tol: float = 1e-12) -> tuple[torch.Tensor, list[int]]:
    """Reduced-echelon basis of the row span of ``vecs`` ``(m, n)`` (complete pivoting).

    Every pivot entry is 1 and the other rows vanish there; entries below ``zero_tol`` times
    the largest are set to 0 (so exact structure stays sparse). Rows ordered by pivot column.
    (NumPy: these are many tiny matrices.)

    Returns:
        ``(basis, pivots)``.
    """
    v = vecs.to(torch.float64).numpy()
    if v.shape[0] == 1:
        j = int(np.abs(v[0]).argmax())
        out = v / v[0, j]
        out[np.abs(out) < zero_tol * np.abs(out).max()] = 0.0
        return torch.from_numpy(out), [j]
    _, s, vh = np.linalg.svd(v, full_matrices=False)
    a = vh[: int((s > 1e-9 * max(s[0], 1e-300)).sum())].copy()
    k, n = a.shape
    pivots: list[int] = []
    for r in range(k):
        i, j = divmod(int(np.abs(a[r:]).argmax()), n)
        i += r
        if i != r:
            a[[r, i]] = a[[i, r]]
        a[r] /= a[r, j]
        col = a[:, j].copy()
        col[r] = 0.0
        a -= np.outer(col, a[r])
        a[:, j] = 0.0
        a[r, j] = 1.0
        pivots.append(j)
    order = sorted(range(k), key=lambda t: pivots[t])
    out = a[order]
    if out.size:
        out[np.abs(out) < zero_tol * max(float(np.abs(out).max()), 1.0)] = 0.0
    return torch.from_numpy(np.ascontiguousarray(out)), [pivots[t] for t in order]


def _prefix(tensor: str) -> str:
    return tensor.rsplit(".", 1)[0] if "." in tensor else tensor


def _head(fam: Families, f: Family) -> str:
    """``"head 0 q"``-style location of a GL block (attention projections), else ``"block b"``."""
    a, b, _ = fam.views[f.tensor]
    length = a if f.axis == 0 else b
    short = f.tensor.rsplit(".", 1)[-1]
    if short in ("in_proj_weight", "in_proj_bias") and f.axis == 0 and length % 3 == 0:
        third = length // 3
        return f"head {(f.offset % third) // f.size} {'qkv'[f.offset // third]}"
    if short.startswith(("q_proj", "k_proj", "v_proj")):
        return f"head {f.offset // f.size} {short[0]}"
    if f.tensor.endswith("out_proj.weight") and f.axis == 1:
        return f"head {f.offset // f.size} o"
    return f"block {f.offset // f.size}"


def name_generator(fam: Families, cols, vals) -> tuple[str, str]:  # noqa: ANN001 - arrays or tensors
    """``(name, group)`` of the generator ``sum_j vals[j] B_{cols[j]}``."""
    elems = [fam.family_of(int(c)) for c in cols]
    kinds = {f.kind for f, _ in elems}
    if kinds == {"scalar"}:
        parts = [f"{f.tensor} {'up' if float(v) > 0 else 'down'}" for (f, _), v in zip(elems, vals, strict=True)]
        return "scale " + ", ".join(parts), "tensor scales"
    f0, e0 = elems[0]
    full_axis = all(f.kind != "gl" or f.size == (fam.views[f.tensor][0] if f.axis == 0 else fam.views[f.tensor][1])
                    for f, _ in elems)
    diag = all(f.kind == "scale" or (f.kind == "gl" and e // f.size == e % f.size) for f, e in elems)
    if diag and (f0.kind == "scale" or full_axis):
        idx = e0 if f0.kind == "scale" else e0 // f0.size
        mats = [f for f, _ in elems if f.axis == 0 and fam.views[f.tensor][1] * fam.views[f.tensor][2] > 1]
        if mats:
            where = _prefix(mats[0].tensor)
        elif "." in f0.tensor:
            where = _prefix(f0.tensor)  # e.g. a LayerNorm gain and bias with the next layer's columns
        else:
            where = ",".join(dict.fromkeys(f.tensor for f, _ in elems))
        return f"rescale {where} {'unit' if mats else 'index'} {idx}", f"rescale {where}"
    if f0.kind == "gl" and full_axis:
        where = "; ".join(dict.fromkeys(f"{f.tensor} {'rows' if f.axis == 0 else 'cols'}" for f, _ in elems))
        x, y = divmod(e0, f0.size)
        return f"GL({f0.size}) {where} E[{x},{y}]", f"GL({f0.size}) {where}"
    if f0.kind == "gl":
        locs: dict[str, list[str]] = {}
        for f, _ in elems:
            if f.kind != "gl":
                continue
            h = _head(fam, f)
            if h.startswith("head"):
                key, part = h.rsplit(" ", 1)
                locs.setdefault(f"{_prefix(f.tensor)} {key}", [])
                if part not in locs[f"{_prefix(f.tensor)} {key}"]:
                    locs[f"{_prefix(f.tensor)} {key}"].append(part)
            else:
                locs.setdefault(f"{f.tensor} {'rows' if f.axis == 0 else 'cols'} {h}", [])
        where = "; ".join(f"{k} {''.join(v)}".strip() for k, v in locs.items())
        x, y = divmod(e0, f0.size)
        group = f"GL({f0.size}) {where}"
        return f"{group} E[{x},{y}]", group
    return "generator " + ", ".join(fam.describe(int(c)) for c in cols[:3]), "other"
