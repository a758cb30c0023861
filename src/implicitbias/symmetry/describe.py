"""Human-readable descriptions of generator matrices, e.g. ``"rescale u[0] ↑, v[0] ↓"``.

Entries of a generator ``A`` (``theta -> A theta``) are grouped by the pair of tensors they
connect and by value, and whole columns / rows of matrix tensors are compressed:
``"U[:,1] += +1·U[:,0]; V[:,0] += -1·V[:,1]"`` is the ``gl(r)`` generator ``E_01`` of a
factorization, ``"rescale W1[3,:] ↑, W2[:,3] ↓"`` a ReLU neuron rescaling.
"""

from __future__ import annotations

from collections import defaultdict

import torch

from implicitbias.symmetry.parametrization import Parametrization

__all__ = ["describe_generator"]


def _locate(p: Parametrization, i: int) -> tuple[str, tuple[int, ...]]:
    for k, s in p.slices.items():
        if s.start <= i < s.stop:
            shape = p.shapes[k]
            out, r = [], i - s.start
            for d in reversed(shape):
                out.append(r % d)
                r //= d
            return k, tuple(reversed(out))
    raise IndexError(i)


def _idx(name: str, idx: tuple[int, ...]) -> str:
    return f"{name}[{','.join(str(x) for x in idx)}]"


def _compress_set(name: str, shape: tuple[int, ...], idxs: set[tuple[int, ...]]) -> list[str]:
    """Names for a set of entries of one tensor: whole tensor, whole columns/rows, or entries."""
    if len(shape) == 2:
        a, b = shape
        total = {(i, j) for i in range(a) for j in range(b)}
        if idxs == total:
            return [name]
        cols = sorted({j for _, j in idxs})
        if all({(i, j) for i in range(a)} <= idxs for j in cols) and len(idxs) == a * len(cols):
            return [f"{name}[:,{j}]" for j in cols]
        rows = sorted({i for i, _ in idxs})
        if all({(i, j) for j in range(b)} <= idxs for i in rows) and len(idxs) == b * len(rows):
            return [f"{name}[{i},:]" for i in rows]
    elif len(shape) == 1 and len(idxs) == shape[0] and shape[0] > 1:
        return [name]
    return [_idx(name, t) for t in sorted(idxs)]


def _maps(name_t: str, name_s: str, shp_t, shp_s, pairs, c: float) -> list[str] | None:
    """``T[:,a] += c·S[:,b]`` (whole columns) or ``T[a,:] += c·S[b,:]`` (whole rows), else None."""
    if len(shp_t) != 2 or shp_t != shp_s:
        return None
    a, b = shp_t
    for axis, other, n in ((1, 0, a), (0, 1, b)):
        groups: dict[tuple[int, int], set[int]] = defaultdict(set)
        ok = True
        for ti, si in pairs:
            if ti[other] != si[other]:
                ok = False
                break
            groups[(ti[axis], si[axis])].add(ti[other])
        if ok and all(len(v) == n for v in groups.values()):
            out = []
            for (x, y) in sorted(groups):
                tgt = f"{name_t}[:,{x}]" if axis == 1 else f"{name_t}[{x},:]"
                src = f"{name_s}[:,{y}]" if axis == 1 else f"{name_s}[{y},:]"
                out.append(f"rescale {tgt} ×{c:+.3g}" if tgt == src else f"{tgt} += {c:+.3g}·{src}")
            return out
    return None


def describe_generator(p: Parametrization, a: torch.Tensor, max_terms: int = 6, atol: float = 1e-10) -> str:
    """Describe the linear vector field ``theta -> a @ theta`` in terms of named entries.

    A diagonal generator is a rescaling (``↑`` grows, ``↓`` shrinks); an off-diagonal entry
    ``a[i, j] = c`` reads "entry i moves along c times entry j".
    """
    a = a.to(torch.float64)
    scale = float(a.abs().max()) if a.numel() else 0.0
    if scale == 0.0:
        return "zero"
    nz = (a.abs() > atol * scale).nonzero().tolist()
    if all(i == j for i, j in nz):
        ups: dict[str, set] = defaultdict(set)
        downs: dict[str, set] = defaultdict(set)
        for i, _ in nz:
            name, idx = _locate(p, i)
            (ups if a[i, i] > 0 else downs)[name].add(idx)
        parts = [f"{s} ↑" for n, v in ups.items() for s in _compress_set(n, p.shapes[n], v)]
        parts += [f"{s} ↓" for n, v in downs.items() for s in _compress_set(n, p.shapes[n], v)]
        more = len(parts) - max_terms
        return "rescale " + ", ".join(parts[:max_terms]) + (f" (+{more} more)" if more > 0 else "")
    groups: dict[tuple[str, str, float], list] = defaultdict(list)
    for i, j in nz:
        (ti, ii), (tj, jj) = _locate(p, i), _locate(p, j)
        groups[(ti, tj, round(float(a[i, j]) / scale, 9))].append((ii, jj))
    terms: list[str] = []
    for (ti, tj, c), pairs in groups.items():
        m = _maps(ti, tj, p.shapes[ti], p.shapes[tj], pairs, c)
        if m is None:
            m = [f"rescale {_idx(ti, x)} ×{c:+.3g}" if (ti, x) == (tj, y) else f"{_idx(ti, x)} += {c:+.3g}·{_idx(tj, y)}"
                 for x, y in pairs]
        terms += m
    more = len(terms) - max_terms
    prefix = "" if scale == 1.0 else f"(×{scale:.3g}) "
    return prefix + "; ".join(terms[:max_terms]) + (f" (+{more} more terms)" if more > 0 else "")
